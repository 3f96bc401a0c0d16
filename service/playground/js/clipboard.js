// Copy buttons. The Clipboard API needs a secure context (https, or this machine's
// loopback); elsewhere a selected off-screen textarea and execCommand do it.

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // permission refused (headless browsers, iframes): fall back below
    }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.left = "-9999px";
  document.body.append(area);
  area.select();
  const done = document.execCommand("copy");
  area.remove();
  return done;
}

/** A button that copies `text()` and says so for a moment. */
export function copyButton(button, text) {
  const label = button.textContent;
  button.addEventListener("click", async () => {
    const done = await copyText(text());
    button.textContent = done ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
}
