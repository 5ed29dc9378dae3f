// Draws each trigger metric under the timeline from its JSON (same axis: x in percent of the run).
// No library, no build step: the points come already placed by the server.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function el(name, attrs) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }
  function draw(figure, data) {
    var svg = figure.querySelector("svg");
    var note = figure.querySelector(".chart-note");
    var span = data.high - data.low;
    var y = function (v) { return (110 - ((v - data.low) / span) * 100).toFixed(2); };
    data.windows.forEach(function (w) {
      svg.appendChild(el("rect", { "class": "alert-window", x: w[0] * 10, y: 0, width: Math.max(2, (w[1] - w[0]) * 10),
        height: 120, fill: "rgba(210,63,49,0.18)" }));
    });
    if (data.threshold !== null) {
      svg.appendChild(el("line", { "class": "threshold", x1: 0, x2: 1000, y1: y(data.threshold), y2: y(data.threshold),
        stroke: "#d23f31", "stroke-dasharray": "6 4", "stroke-width": 1 }));
    }
    if (data.points.length) {
      var d = data.points.map(function (p) { return (p[0] * 10).toFixed(2) + "," + y(p[1]); }).join(" ");
      svg.appendChild(el("polyline", { "class": "line", points: d, fill: "none", stroke: "#2d74da", "stroke-width": 1.2,
        "vector-effect": "non-scaling-stroke" }));
    }
    note.textContent = data.missing || ("threshold " + data.threshold + " " + data.unit + "; range " +
      data.low.toFixed(2) + " to " + data.high.toFixed(2));
    figure.setAttribute("data-drawn", String(data.points.length));
  }
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    fetch(figure.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) { draw(figure, data); })
      .catch(function (e) {
        figure.querySelector(".chart-note").textContent = "The series could not be loaded (" + e.message + ").";
        figure.setAttribute("data-drawn", "error");
      });
  });
})();
