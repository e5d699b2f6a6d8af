"""Fault 8: an appliance whose clock is minutes off the signer's (steering's).

The appliance runs under libfaketime (``apt install libfaketime``): its wall clock is SKEW_S
ahead of everyone else's. Tokens are signed here exactly as steering signs them (same key,
real clock, a short lifetime so the skew matters). Within ``[tokens] leeway_seconds`` they
still verify; tokens expired for longer than skew + leeway still fail; and with no leeway the
skew alone would reject fresh tokens (so the test measures the skew, not a no-op). Without
libfaketime the skew is simulated by signing with a clock set back by SKEW_S instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamfleet.addressing import make_key, segment_name

from .procs import SoloAppliance
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TITLE = "skewed"
FILES = make_title(TITLE, segments=2)
KEY = make_key(TITLE, "480p", segment_name(0))
SKEW_S = 180  # the appliance's clock runs three minutes ahead
TTL_S = 60  # lifetime of the tokens steering signs, in this test
LEEWAY_S = 150
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def skewed_env() -> dict[str, str]:
    if not LIBFAKETIME.exists():
        return {}
    # Only the wall clock moves; monotonic timers (timeouts, the event loop) stay real.
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": f"+{SKEW_S}s", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}  # fmt: skip


def signer_now() -> float:
    """Steering's clock: real time, or set back by the skew when the appliance's cannot be moved."""
    return time.time() - (0 if LIBFAKETIME.exists() else SKEW_S)


@pytest.mark.parametrize("leeway", [LEEWAY_S, 0])
def test_tokens_verify_within_the_leeway_and_expired_ones_fail(tmp_path: Path, leeway: int) -> None:
    with StandInOrigin({TITLE: FILES}) as origin, SoloAppliance(
        tmp_path, origin.url, env=skewed_env(), tokens={"leeway_seconds": leeway}
    ) as appliance:
        fresh = sign(TITLE, ttl=TTL_S, now=signer_now())  # expired 120 s ago by the appliance's clock
        expired = sign(TITLE, ttl=-100, now=signer_now())  # expired 280 s ago by the appliance's clock
        long_lived = sign(TITLE, ttl=3600, now=signer_now())
        if leeway:
            response = appliance.get(KEY, fresh)
            assert response.status_code == 200 and response.content == FILES[KEY.cache_key]
        else:
            assert appliance.get(KEY, fresh).status_code == 403  # the skew is real
        assert appliance.get(KEY, expired).status_code == 403
        assert appliance.get(KEY, long_lived).status_code == 200
        # The appliance's own upstream tokens (signed with its skewed clock) still satisfy the origin.
        assert origin.token_rejections == 0
        rejected = appliance.metric("streamfleet_appliance_token_rejections_total")
        assert rejected == (1 if leeway else 2)
