// hookrouter dashboard: local times, copy buttons, the live tail and replay progress. No library.
"use strict";

function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) { el.textContent = when.toLocaleString(); }
  }
  for (const el of root.querySelectorAll("text.hour[data-ms]")) {
    el.textContent = new Date(Number(el.dataset.ms)).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }
}

async function copyText(button) {
  const value = button.dataset.copy;
  try {
    await navigator.clipboard.writeText(value);
  } catch (_) {  // no clipboard API (plain http): select the text for Ctrl+C
    const range = document.createRange();
    range.selectNodeContents(button.previousElementSibling);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

async function refresh(target, url) {
  const answer = await fetch(url, {credentials: "same-origin", headers: {"accept": "text/html"}});
  if (answer.ok && !answer.redirected) {
    target.innerHTML = await answer.text();
    localTimes(target);
  }
}

function liveTail() {
  const box = document.getElementById("tail");
  const rows = document.getElementById("rows");
  if (!box || !rows) { return; }
  let timer = null;
  const follow = () => {
    clearInterval(timer);
    if (box.checked) { timer = setInterval(() => refresh(rows, box.dataset.tail), 3000); }
  };
  box.addEventListener("change", follow);
  follow();  // a box the browser restored as checked (back, reload) tails at once
}

function replayProgress() {
  const job = document.querySelector("[data-poll]");
  if (!job) { return; }
  const timer = setInterval(async () => {
    await refresh(job, job.dataset.poll);
    const status = job.querySelector("[data-status]");
    if (status && ["done", "failed"].includes(status.dataset.status)) { clearInterval(timer); }
  }, 1000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (button) { copyText(button); }
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  liveTail();
  replayProgress();
  const picker = document.getElementById("project-picker");
  if (picker) { picker.addEventListener("change", () => picker.form.submit()); }
  const reload = document.querySelector("[data-reload]");
  if (reload) { setTimeout(() => location.reload(), Number(reload.dataset.reload) * 1000); }
});
