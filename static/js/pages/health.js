// Dataset health charts, drawn with Chart.js (static/vendor/chartjs, a classic script).
import { pageData } from "../lib/api.js";

const health = pageData().health;
const Chart = window.Chart;
const SPLIT_COLORS = { train: "#3cb44b", val: "#f5a623", test: "#911eb4" };

function bar(id, labels, datasets, options = {}) {
  const canvas = document.getElementById(id);
  if (!canvas || !Chart) return;
  new Chart(canvas, {
    type: "bar",
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      ...options,
    },
  });
}

const classNames = health.classes.map((c) => c.name);
bar(
  "chart-classes",
  classNames,
  ["train", "val", "test"].map((split) => ({
    label: split,
    data: health.classes.map((c) => c[split]),
    backgroundColor: SPLIT_COLORS[split],
  })),
  { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
);
bar("chart-splits", ["train", "val", "test"], [{
  label: "images",
  data: ["train", "val", "test"].map((s) => health.splits[s]),
  backgroundColor: ["train", "val", "test"].map((s) => SPLIT_COLORS[s]),
}]);
bar("chart-box-sizes", ["small", "medium", "large"], [{
  label: "boxes",
  data: [health.box_sizes.small, health.box_sizes.medium, health.box_sizes.large],
  backgroundColor: "#4363d8",
}]);
bar("chart-aspects", health.aspect_ratios.map((a) => a.label), [{
  label: "boxes",
  data: health.aspect_ratios.map((a) => a.count),
  backgroundColor: "#46a0a0",
}]);
bar("chart-image-sizes", health.image_sizes.map((s) => s.size), [{
  label: "images",
  data: health.image_sizes.map((s) => s.count),
  backgroundColor: "#808080",
}], { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } });
