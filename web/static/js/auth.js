// Log in and sign up forms: the origin sets the session cookie; we go where the user was headed.
import { api, renderChrome, say } from "./common.js";

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // Only same-site paths: never bounce a fresh session to another site.
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function login(username, password) {
  await api("/api/origin/v1/sessions", { method: "POST", body: { username, password } });
}

function bind(form, submit) {
  const message = document.getElementById("form-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      say(message, "Enter a username and a password.", "error");
      (username ? form.password : form.username).focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(message, "", "info");
    try {
      await submit(username, password);
      location.assign(nextPage());
    } catch (err) {
      say(message, err.status === 401 ? "Wrong username or password." : err.message, "error");
      button.disabled = false;
    }
  });
}

renderChrome();
const loginForm = document.getElementById("login-form");
if (loginForm) {
  bind(loginForm, login);
  loginForm.username.focus();
}
const signupForm = document.getElementById("signup-form");
if (signupForm) {
  bind(signupForm, async (username, password) => {
    await api("/api/origin/v1/accounts", { method: "POST", body: { username, password, role: signupForm.role.value } });
    await login(username, password);
  });
  signupForm.username.focus();
}
