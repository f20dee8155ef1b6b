// Live progress of a flow run: Server-Sent Events from the run's Redis stream.
// step events refresh the steps table (server-rendered, exact timing, cost and traces), deltas append
// to the live text, "restart" clears it (a fallback model started over), the final "run" event swaps
// in the finished run. EventSource reconnects by itself and sends Last-Event-ID, so nothing is lost.
(function () {
  function start(root) {
    const source = new EventSource(root.dataset.eventsUrl);
    const runUrl = root.dataset.runUrl;
    const text = document.getElementById("live-text");
    const label = document.getElementById("live-step");
    const notice = document.getElementById("live-notice");
    const status = document.getElementById("run-status");
    const connection = document.getElementById("live-connection");
    let currentStep = null;
    let refreshTimer = null;
    const data = (event) => JSON.parse(event.data || "{}");

    function refreshSteps() {  // a burst of step events costs one request
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => {
        htmx.ajax("GET", runUrl + "?part=steps", { target: "#steps", swap: "innerHTML" });
      }, 150);
    }
    source.addEventListener("open", () => { connection.textContent = ""; });
    source.addEventListener("error", () => { connection.textContent = "· reconnecting…"; });
    source.addEventListener("step", (event) => {
      const step = data(event);
      const row = document.querySelector(`[data-step="${CSS.escape(step.key)}"] .step-status`);
      if (row) row.textContent = step.status;
      refreshSteps();
    });
    source.addEventListener("delta", (event) => {
      const delta = data(event);
      if (delta.step !== currentStep) {
        currentStep = delta.step;
        text.textContent = "";
        label.textContent = delta.step || "";
        notice.hidden = true;
      }
      text.textContent += delta.text || "";
    });
    source.addEventListener("restart", (event) => {
      text.textContent = "";
      notice.textContent = "The model started over (" + (data(event).text || "fallback") + ").";
      notice.hidden = false;
    });
    source.addEventListener("run", (event) => {
      const run = data(event);
      if (status) status.textContent = run.status;
      if (run.status === "succeeded" || run.status === "failed" || run.status === "needs_attention") {
        source.close();
        htmx.ajax("GET", runUrl, { target: "#run-live", swap: "outerHTML" });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-events-url]").forEach(start);
  });
})();
