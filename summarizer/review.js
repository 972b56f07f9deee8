// The review page's one script (summarizer/review.py): click a fact, see its passages.
document.addEventListener("click", function (event) {
  var target = event.target;
  var section = target.closest && target.closest("section.review");
  if (!section) return;
  var fact = target.closest("li.fact");
  var mark = target.closest("mark");
  if (!fact && !mark) return;
  section.querySelectorAll(".on").forEach(function (el) { el.classList.remove("on"); });
  var numbers = fact ? [fact.dataset.fact] : mark.dataset.facts.split(" ").filter(Boolean);
  var marks = [];
  numbers.forEach(function (n) {
    section.querySelectorAll('mark[data-facts~="' + n + '"]').forEach(function (m) {
      m.classList.add("on"); marks.push(m);
    });
    var item = section.querySelector('li.fact[data-fact="' + n + '"]');
    if (item) { item.classList.add("on"); if (mark) item.scrollIntoView({block: "nearest"}); }
  });
  if (fact && marks.length && target.tagName !== "A") {
    marks[0].scrollIntoView({behavior: "smooth", block: "center"});
  }
});
