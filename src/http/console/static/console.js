// The console's only script: forms with data-confirm ask before they submit (the delete button),
// and choosing an app in the header's switcher submits it.
document.addEventListener('submit', (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});
document.addEventListener('change', (e) => {
  if (e.target.matches && e.target.matches('#switch-app select')) e.target.form.requestSubmit();
});
