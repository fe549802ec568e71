// Offline search over search-index.js: every word typed must appear in the note.
// Results are built as DOM nodes with textContent: no note text is ever parsed as HTML.
(function () {
  var SHOWN = 50, AROUND = 60;
  var input = document.getElementById("q");
  var list = document.getElementById("results");
  var count = document.getElementById("count");
  var notes = window.CHANGENOTE_INDEX.map(function (n) {
    return { page: n.page, title: n.title, date: n.date, text: n.text, lower: n.text.toLowerCase() };
  });
  function snippet(n, word) {
    // Around the first word's first match; positions are the lowered text's, which is as
    // long as the text save for rare letters (then the lowered text is quoted).
    var text = n.lower.length === n.text.length ? n.text : n.lower;
    var at = n.lower.indexOf(word);
    var start = Math.max(0, at - AROUND), end = Math.min(text.length, at + word.length + AROUND);
    var span = document.createElement("span");
    span.className = "snippet";
    span.appendChild(document.createTextNode((start > 0 ? "…" : "") + text.slice(start, at)));
    var mark = document.createElement("mark");
    mark.textContent = text.slice(at, at + word.length);
    span.appendChild(mark);
    span.appendChild(document.createTextNode(text.slice(at + word.length, end) + (end < text.length ? "…" : "")));
    return span;
  }
  function show() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    list.textContent = "";
    if (!words.length) { count.textContent = ""; return; }
    var found = notes.filter(function (n) {
      return words.every(function (w) { return n.lower.indexOf(w) >= 0; });
    });
    var quoted = "\u201c" + input.value.trim() + "\u201d";
    if (!found.length) count.textContent = "No note matches " + quoted + ".";
    else count.textContent = found.length + (found.length === 1 ? " note matches " : " notes match ") +
      quoted + (found.length > SHOWN ? "; the " + SHOWN + " newest are shown." : ".");
    found.slice(0, SHOWN).forEach(function (n) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = n.page;
      a.textContent = n.title;
      li.appendChild(a);
      var meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = " " + n.date;
      li.appendChild(meta);
      var longest = words.slice().sort(function (a, b) { return b.length - a.length; })[0];
      li.appendChild(snippet(n, longest));
      list.appendChild(li);
    });
  }
  input.addEventListener("input", show);
  var q = new URLSearchParams(location.search).get("q");
  if (q) { input.value = q; show(); }
})();
