// Gatehouse portal: the few behaviours htmx does not cover.

// The pages' Content-Security-Policy allows no inline style (app.css styles the indicators)
// and no eval (no page uses htmx's JavaScript expressions). Set before htmx starts, at
// DOMContentLoaded.
htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
document.addEventListener("change", function (event) {
  var target = event.target;
  // Test console: picking an operation fills in its method and path.
  if (target.id === "console-operation") {
    var option = target.selectedOptions[0];
    if (option && option.dataset.path) {
      // An operation for any method (`*`) leaves the method as it is.
      if (option.dataset.method !== "*") {
        document.getElementById("console-method").value = option.dataset.method;
      }
      document.getElementById("console-path").value = option.dataset.path;
      // An HTTPS-only API is not served on the plain listener: call it through TLS.
      var tls = document.querySelector("[name=listener][value=tls]");
      if (option.dataset.httpsOnly === "true" && tls) {
        tls.checked = true;
        showTlsFields();
      }
    }
  }
  // Test console: the server name belongs to the TLS listener only.
  if (target.name === "listener") {
    showTlsFields();
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

function showTlsFields() {
  var fields = document.getElementById("console-tls-fields");
  var tls = document.querySelector("[name=listener][value=tls]");
  if (fields) fields.hidden = !(tls && tls.checked);
}

// A change the server refused outright (an expired session's CSRF token, a form it could not
// read, a failure) comes back as an error status, which htmx does not swap: say so at the top.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var flash = document.getElementById("flash");
  if (!flash || xhr.getResponseHeader("HX-Redirect")) return;
  var text = (xhr.responseText || "").trim().slice(0, 300);
  flash.textContent = "The server refused this (" + xhr.status + "): " + (text || xhr.statusText || "no details") + ".";
  flash.hidden = false;
});
document.addEventListener("htmx:sendError", function () {
  var flash = document.getElementById("flash");
  if (!flash) return;
  flash.textContent = "Gatehouse did not answer: is it still running?";
  flash.hidden = false;
});
document.addEventListener("htmx:beforeRequest", function () {
  var flash = document.getElementById("flash");
  if (flash) flash.hidden = true;
});
