// Offline search over search-index.js: every word typed must appear in the note.
(function () {
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  function show() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (!words.length) return;
    window.CHANGENOTE_INDEX.filter(function (n) {
      return words.every(function (w) { return n.text.indexOf(w) >= 0; });
    }).slice(0, 50).forEach(function (n) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = n.page;
      a.textContent = n.title;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" " + n.date));
      list.appendChild(li);
    });
  }
  input.addEventListener("input", show);
  var q = new URLSearchParams(location.search).get("q");
  if (q) { input.value = q; show(); }
})();
