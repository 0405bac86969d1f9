// The receipt page's print button (no inline handler: the Content-Security-Policy allows none).
"use strict";
document.getElementById("print").addEventListener("click", function () {
  window.print();
});
