// Gatehouse portal: the few behaviours htmx does not cover.
document.addEventListener("change", function (event) {
  var target = event.target;
  // Test console: picking an operation fills in its method and path.
  if (target.id === "console-operation") {
    var option = target.selectedOptions[0];
    if (option && option.dataset.method) {
      document.getElementById("console-method").value = option.dataset.method;
      document.getElementById("console-path").value = option.dataset.path;
    }
  }
  // Back end form: turning validation off shows its warning at once.
  if (target.name === "validate_chain" || target.name === "validate_name") {
    var off = !document.querySelector("[name=validate_chain]").checked || !document.querySelector("[name=validate_name]").checked;
    document.getElementById("validation-warning").hidden = !off;
  }
  // Gateway credentials: show the fields of the chosen kind.
  if (target.id === "gateway-credentials") {
    document.getElementById("credentials-certificate").hidden = target.value !== "clientCertificate";
    document.getElementById("credentials-basic").hidden = target.value !== "basic";
  }
});
