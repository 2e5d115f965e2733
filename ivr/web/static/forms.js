// Forms on every page: sent once (buttons wait while sending; the server's one-time key does the
// rest), destructive ones asked about first, a draft kept when the session ended filled in
// again, and a notice once the session has ended (the page may be out of date).
(function () {
  const SENDING_MS = 20000; // a reply this late: let the agent try again (the key stays the same)

  function key() {
    const bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  }
  function hidden(form, name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.append(input);
  }
  function buttons(form) {
    return form.querySelectorAll("button, input[type=submit]");
  }
  function release(form) {
    delete form.dataset.sending;
    form.classList.remove("sending");
    for (const button of buttons(form)) button.disabled = false;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || form.method.toLowerCase() !== "post") return;
    if (form.dataset.sending) {
      event.preventDefault(); // a second click while the first is on its way
      return;
    }
    if (form.dataset.confirm && !form.elements.confirmed) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      hidden(form, "confirmed", "1");
    }
    // Forms drawn by scripts (the live page's) get their key here, once per form.
    if (!form.elements.form_key) hidden(form, "form_key", key());
    form.dataset.sending = "1";
    form.classList.add("sending");
    // Disabled after the browser has read the form: a disabled button's value is not sent.
    setTimeout(() => {
      for (const button of buttons(form)) button.disabled = true;
    }, 0);
    setTimeout(() => release(form), SENDING_MS);
  });

  // Back to a page kept by the browser: its buttons work again (its keys still say "done").
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) for (const form of document.querySelectorAll("form.sending")) release(form);
  });

  function fillDraft() {
    const draft = document.getElementById("form-draft");
    if (!draft) return;
    const fields = JSON.parse(draft.dataset.fields || "{}");
    const action = new URL(draft.dataset.action, location.href).pathname;
    for (const form of document.querySelectorAll("form[method=post]")) {
      if (new URL(form.action, location.href).pathname !== action) continue;
      // Several forms may share a URL (one per case status): the one whose fixed values match.
      const fixed = [...form.querySelectorAll("input[type=hidden]")].filter(
        (input) => input.name in fields && !fields[input.name].includes(input.value),
      );
      if (fixed.length) continue;
      for (const [name, values] of Object.entries(fields)) {
        const inputs = [...form.querySelectorAll("[name]")].filter((el) => el.name === name);
        for (const input of inputs) {
          if (input.type === "hidden" || input.type === "submit" || input.tagName === "BUTTON") continue;
          if (input.type === "checkbox" || input.type === "radio") input.checked = values.includes(input.value);
          else input.value = values[inputs.indexOf(input)] ?? values[0] ?? "";
        }
      }
      form.classList.add("draft-target");
      const first = form.querySelector("textarea, input:not([type=hidden]), button");
      if (first) first.focus();
      return;
    }
  }

  function watchSession() {
    const notice = document.getElementById("stale-notice");
    if (!notice) return;
    const ends = Date.now() + Number(notice.dataset.sessionLeft) * 1000;
    const check = () => {
      if (Date.now() >= ends) notice.hidden = false;
    };
    setInterval(check, 15000);
    document.addEventListener("visibilitychange", check);
    check();
  }

  function start() {
    fillDraft();
    watchSession();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
