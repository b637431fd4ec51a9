// The top bar on a narrow screen: its links fold behind a "Menu" button (studio.css
// shows the button and hides the links below 700 px; on wider screens both stay put).
const toggle = document.getElementById("nav-toggle");
const nav = document.getElementById("site-nav");

if (toggle && nav) {
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
}
