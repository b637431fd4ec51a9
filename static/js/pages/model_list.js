// The model registry: mark a version as production, pick two versions to compare.
import { api, pageData } from "../lib/api.js";

const data = pageData();
const errorBox = document.querySelector("#models .error");

for (const button of document.querySelectorAll("button.make-production")) {
  button.addEventListener("click", async () => {
    // A version judged not usable yet is made production only after a confirmation.
    const notUsable = button.dataset.notUsable;
    const question = `${notUsable}\n\nMake v${button.dataset.version} the production model anyway?`;
    if (notUsable && !window.confirm(question)) return;
    try {
      await api(data.api.model.replace("{id}", button.dataset.model), {
        method: "PATCH",
        body: { is_production: true, confirm: Boolean(notUsable) },
      });
      window.location.reload();
    } catch (error) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
    }
  });
}

const form = document.getElementById("compare-form");
form?.addEventListener("submit", (event) => {
  const picked = [...form.querySelectorAll("input.pick:checked")].map((box) => box.value);
  if (picked.length !== 2) {
    event.preventDefault();
    document.getElementById("compare-status").textContent = "Select exactly two versions.";
    return;
  }
  // Oldest first: the rows are newest first.
  form.elements.a.value = picked[1];
  form.elements.b.value = picked[0];
});
