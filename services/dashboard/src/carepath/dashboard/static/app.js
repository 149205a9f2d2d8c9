// CarePath dashboard: reads /api/summary, re-reads it when /stream says something changed.
// Vanilla JS and the vendored Chart.js; every piece of server text goes in through textContent.
// Signed in by the form's POST /login: the session is an HttpOnly cookie this script never sees;
// what it changes (POST) carries the session's CSRF token from /api/session.
"use strict";

(() => {
  const REFRESH_DEBOUNCE_MS = 300;
  // A steady stream of updates (a busy clinic, a seed run) must not postpone the refresh forever.
  const REFRESH_MAX_WAIT_MS = 2000;
  const RETRY_MS = 5000;
  const INSTRUMENTS = {
    PHQ9: "PHQ-9",
    GAD7: "GAD-7",
    PCL5: "PCL-5",
    PAIN_NRS: "Pain NRS",
  };

  const ALERT_KINDS = {
    suicidality: "Suicidality",
    vitals: "Vitals",
    adverse_event: "Adverse event",
    integration_overdue: "Integration overdue",
    booster_indicated: "Booster indicated",
  };
  const SESSION_STATUS = {
    scheduled: "Scheduled",
    checked_in: "Checked in",
    deferred: "Deferred",
    monitoring: "Monitoring",
    discharged: "Discharged",
  };
  const REASONS = {
    depression: { label: "Depression", color: "#1d4ed8" },
    ptsd: { label: "PTSD", color: "#b45309" },
    anxiety: { label: "Anxiety", color: "#7e22ce" },
    chronic_pain: { label: "Chronic pain", color: "#0f766e" },
  };
  const OTHER_REASON = { label: "Other", color: "#4b5563" };
  const ROLES = {
    clinician: "clinician",
    nurse: "nurse",
    therapist: "therapist",
    intake_coordinator: "intake coordinator",
    auditor: "auditor",
  };
  const ALL_SECTIONS = ["funnel", "today", "alerts", "trajectories", "rates", "operations"];
  const CSRF_HEADER = "X-CSRF-Token";

  // How the last sign-in went (`/login` redirects to `/?signin=` ok, failed, role or
  // unavailable); read once, and the address is cleaned so that a reload does not repeat it.
  let signinResult = new URLSearchParams(window.location.search).get("signin");
  if (signinResult !== null) window.history.replaceState(null, "", window.location.pathname);

  const state = {
    acknowledged: new Set(), // acknowledged here, maybe not yet in the projection
    instrument: "PHQ9", // the outcome instrument the trajectory chart shows
    outcomes: null, // the last summary's outcomes, to redraw when the instrument changes
    charts: {},
    stream: null,
    refreshing: false,
    refreshAgain: false,
    debounceTimer: null,
    firstPendingAt: null,
    retryTimer: null,
    timelinePatient: null,
    timelineOpener: null,
    session: null, // GET /api/session: who is signed in, the CSRF token of their session
  };

  // ---------------------------------------------------------------------------------------------
  // Small helpers

  const $ = (selector) => document.querySelector(selector);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const shortId = (id) => String(id).slice(0, 8);
  const reasonOf = (reason) =>
    REASONS[reason] || { ...OTHER_REASON, label: reason ? String(reason) : "Unknown" };
  const percent = (fraction) =>
    fraction === null || fraction === undefined ? "—" : `${Math.round(fraction * 100)}%`;

  /** Times as the clinic reads them: in its time zone (`clinic_timezone` of the summary; the
   * browser's own until the first summary arrives), so "today" is the clinic's day. */
  function formatsIn(timeZone) {
    const format = (options) => new Intl.DateTimeFormat(undefined, { ...options, timeZone });
    return {
      timeZone,
      time: format({ hour: "2-digit", minute: "2-digit" }),
      seconds: format({ hour: "2-digit", minute: "2-digit", second: "2-digit" }),
      dayTime: format({ day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }),
      date: format({ day: "numeric", month: "short", year: "numeric" }),
      clock: format({
        weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      }),
      full: format({ dateStyle: "medium", timeStyle: "medium" }),
      day: new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }),
    };
  }
  let formats = formatsIn(undefined);

  function useClinicTimeZone(timeZone) {
    if (!timeZone || timeZone === formats.timeZone) return;
    try {
      formats = formatsIn(timeZone);
    } catch (error) {
      console.warn(`unknown clinic time zone ${timeZone}; showing browser time`);
    }
  }

  function isToday(date) {
    return formats.day.format(date) === formats.day.format(new Date());
  }

  /** A <time> element: the time alone for today, day and time otherwise. */
  function timeElement(iso, format) {
    if (!iso) return el("span", { class: "muted", text: "—" });
    const date = new Date(iso);
    const chosen = format || (isToday(date) ? formats.time : formats.dayTime);
    return el("time", { datetime: iso, title: formats.full.format(date), text: chosen.format(date) });
  }

  function patientButton(patientId, label) {
    return el("button", {
      type: "button",
      class: "patient-link",
      dataset: { patientId },
      "aria-label": `Open timeline of patient ${shortId(patientId)}`,
      text: label || shortId(patientId),
    });
  }

  function fillTable(table, rows) {
    table.tBodies[0].replaceChildren(...rows);
  }

  // ---------------------------------------------------------------------------------------------
  // Talking to the backend

  class Unauthorized extends Error {}

  class Refused extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function request(url, options = {}) {
    const response = await fetch(url, {
      credentials: "same-origin",
      ...options,
      headers: { Accept: "application/json", ...(options.headers || {}) },
    });
    if (response.status === 401) throw new Unauthorized(url);
    if (response.status === 204) return null;
    if (!response.ok) {
      let reason = response.statusText;
      try {
        const body = await response.json();
        reason = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      } catch (_) {
        /* not JSON: keep the status text */
      }
      throw new Refused(response.status, reason);
    }
    return response.json();
  }

  async function loadSession() {
    state.session = await request("/api/session");
    showSignedIn();
  }

  /** A request that changes something: with the session's CSRF token; when the server no longer
   * takes it (signed in again elsewhere, the dashboard restarted), with a fresh one, once. */
  async function send(url, options) {
    const attempt = () => {
      const csrf = state.session && state.session.csrf_token;
      const headers = { ...(options.headers || {}), ...(csrf ? { [CSRF_HEADER]: csrf } : {}) };
      return request(url, { ...options, headers });
    };
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof Refused && error.status === 403 && error.message.includes(CSRF_HEADER))) {
        throw error;
      }
      await loadSession();
      return attempt();
    }
  }

  function scheduleRefresh() {
    const now = Date.now();
    if (state.firstPendingAt === null) state.firstPendingAt = now;
    clearTimeout(state.debounceTimer);
    const waited = now - state.firstPendingAt;
    const delay = Math.max(0, Math.min(REFRESH_DEBOUNCE_MS, REFRESH_MAX_WAIT_MS - waited));
    state.debounceTimer = setTimeout(() => {
      state.firstPendingAt = null;
      refresh();
    }, delay);
  }

  async function refresh() {
    if (state.refreshing) {
      state.refreshAgain = true; // one more read once this one is done, never two at once
      return;
    }
    state.refreshing = true;
    clearTimeout(state.retryTimer);
    try {
      const summary = await request("/api/summary");
      if (!state.session) await loadSession();
      showDashboard();
      render(summary);
      openStream();
    } catch (error) {
      if (error instanceof Unauthorized) {
        showSignIn();
      } else {
        showLoadError(`Could not load the dashboard (${error.message}); retrying.`);
        state.retryTimer = setTimeout(refresh, RETRY_MS);
      }
    } finally {
      state.refreshing = false;
      if (state.refreshAgain) {
        state.refreshAgain = false;
        refresh();
      }
    }
  }

  function openStream() {
    if (state.stream) return;
    const stream = new EventSource("/stream");
    state.stream = stream;
    let wasDown = false;
    stream.addEventListener("update", scheduleRefresh);
    stream.addEventListener("open", () => {
      setConnection("live", "Live");
      if (wasDown) scheduleRefresh(); // updates may have been missed while disconnected
      wasDown = false;
    });
    stream.addEventListener("error", () => {
      wasDown = true;
      if (stream.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status, e.g. 401): start over through /api/summary.
        stream.close();
        state.stream = null;
        setConnection("offline", "Offline, retrying");
        clearTimeout(state.retryTimer);
        state.retryTimer = setTimeout(refresh, RETRY_MS);
      } else {
        setConnection("reconnecting", "Reconnecting…");
      }
    });
  }

  function closeStream() {
    if (state.stream) state.stream.close();
    state.stream = null;
  }

  // ---------------------------------------------------------------------------------------------
  // Page states: signed out, error, dashboard

  function setConnection(name, text) {
    const node = $("#connection");
    node.dataset.state = name;
    node.textContent = text;
  }

  function showSignIn() {
    closeStream();
    state.session = null;
    setConnection("signed-out", "Signed out");
    $("#signed-in").hidden = true;
    $("#dashboard").hidden = true;
    $("#load-error").hidden = true;
    $("#signin").hidden = false;
    $("#signin-failed").hidden = signinResult !== "failed";
    $("#signin-role").hidden = signinResult !== "role";
    $("#signin-unavailable").hidden = signinResult !== "unavailable";
    // Accepted, yet the next read is not signed in: the browser refused the Secure cookie.
    $("#signin-not-kept").hidden = signinResult !== "ok";
    closeTimeline();
    $("#signin-token").focus();
  }

  function showDashboard() {
    signinResult = null;
    $("#signin").hidden = true;
    $("#load-error").hidden = true;
    $("#dashboard").hidden = false;
  }

  function showSignedIn() {
    const { user_id: user, role } = state.session;
    $("#signed-in-as").textContent = `${user} (${ROLES[role] || role})`;
    $("#signed-in").hidden = false;
  }

  async function signOut() {
    try {
      await send("/logout", { method: "POST" });
    } catch (error) {
      if (!(error instanceof Unauthorized)) {
        showLoadError(`Could not sign out (${error.message}).`);
        return;
      }
    }
    signinResult = null;
    showSignIn();
  }

  function showLoadError(message) {
    const node = $("#load-error");
    node.textContent = message;
    node.hidden = false;
  }

  $("#sign-out").addEventListener("click", signOut);

  // ---------------------------------------------------------------------------------------------
  // Rendering

  /** The summary holds what the caller's role sees (`sections`); the rest of the page is hidden,
   * not shown empty: "no open alerts" must not stand for "alerts you may not see". */
  function showSections(sections) {
    const has = (section) => sections.includes(section);
    $("#alerts-section").hidden = !has("alerts");
    $("#today-section").hidden = !has("today");
    $("#funnel-section").hidden = !has("funnel");
    $("#outcomes-section").hidden = !has("trajectories") && !has("rates");
    $("#trajectories-figure").hidden = !has("trajectories");
    $("#rates-figure").hidden = !has("rates");
    $("#lag-section").hidden = !has("operations");
    $("#dead-letters-section").hidden = !has("operations");
    return has;
  }

  function render(summary) {
    useClinicTimeZone(summary.clinic_timezone);
    $("#updated-at").replaceWith(
      Object.assign(timeElement(summary.generated_at, formats.seconds), { id: "updated-at" }),
    );
    const has = showSections(summary.sections || ALL_SECTIONS);
    if (has("alerts")) renderAlerts(summary.alerts || []);
    if (has("today")) renderToday(summary.today || [], summary.in_monitoring || []);
    if (has("funnel")) renderFunnel(summary.funnel || [], summary.discontinued || 0);
    state.outcomes = summary.outcomes || {};
    if (has("trajectories")) renderOutcomeChart();
    if (has("rates")) renderRates(state.outcomes.rates || []);
    if (has("operations")) {
      renderLag(summary.lag || []);
      renderDeadLetters(summary.dead_letters || []);
    }
  }

  // Safety alerts -------------------------------------------------------------------------------

  function alertItem(alert) {
    const kind = alert.kind;
    return el(
      "li",
      { class: "alert", dataset: { alertId: alert.alert_id, kind, patientId: alert.patient_id } },
      el(
        "div",
        { class: "alert-head" },
        el("span", { class: "kind", text: ALERT_KINDS[kind] || kind }),
        timeElement(alert.raised_at),
      ),
      el("p", { class: "detail", text: alert.detail }),
      el(
        "div",
        { class: "alert-actions" },
        patientButton(alert.patient_id, `Patient ${shortId(alert.patient_id)}`),
        el("button", {
          type: "button",
          class: "ack",
          "aria-label": `Acknowledge ${ALERT_KINDS[kind] || kind} alert for patient ${shortId(alert.patient_id)}`,
          text: "Acknowledge",
        }),
      ),
      el("p", { class: "alert-error", role: "alert", hidden: true }),
    );
  }

  function renderAlerts(alerts) {
    const list = $("#alerts");
    // The server orders them: the most urgent kind first (suicidality), then newest.
    const open = alerts.filter((a) => !state.acknowledged.has(String(a.alert_id)));
    const existing = new Map([...list.children].map((li) => [li.dataset.alertId, li]));
    const wanted = new Set(open.map((a) => String(a.alert_id)));
    for (const [id, li] of existing) if (!wanted.has(id)) li.remove();
    // Keep the nodes that are already there (focus, screen-reader announcements); add new ones.
    open.forEach((alert, index) => {
      const node = existing.get(String(alert.alert_id)) || alertItem(alert);
      if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
    });
    updateAlertCount();
  }

  function updateAlertCount() {
    const count = $("#alerts").children.length;
    $("#alerts-count").textContent = String(count);
    $("#alerts-count").dataset.nonzero = count > 0 ? "true" : "false";
    $("#alerts-empty").hidden = count > 0;
    document.title = count > 0 ? `(${count}) CarePath dashboard` : "CarePath dashboard";
  }

  async function acknowledge(li) {
    const id = li.dataset.alertId;
    const button = li.querySelector(".ack");
    const errorNode = li.querySelector(".alert-error");
    button.disabled = true;
    button.textContent = "Acknowledging…";
    errorNode.hidden = true;
    try {
      await send(`/api/alerts/${encodeURIComponent(id)}/acknowledgement`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({}),
      });
      state.acknowledged.add(id);
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      updateAlertCount();
      (next ? next.querySelector(".ack") : $("#alerts-title")).focus({ preventScroll: true });
    } catch (error) {
      if (error instanceof Unauthorized) return showSignIn();
      if (error instanceof Refused && (error.status === 409 || error.status === 404)) {
        // Someone else acknowledged it meanwhile (or it is gone): it is off the list either way.
        state.acknowledged.add(id);
        li.remove();
        updateAlertCount();
        return;
      }
      const why = error instanceof Refused && error.status === 403
        ? "only a clinician or a nurse can acknowledge alerts" : error.message;
      errorNode.textContent = `Not acknowledged: ${why}`;
      errorNode.hidden = false;
      button.disabled = false;
      button.textContent = "Acknowledge";
    }
  }

  // Today ---------------------------------------------------------------------------------------

  function minutesLeftText(endsIso, fallbackMinutes) {
    let minutes = fallbackMinutes;
    if (endsIso) minutes = Math.ceil((Date.parse(endsIso) - Date.now()) / 60000);
    if (minutes === null || minutes === undefined) return { text: "—", done: false };
    if (minutes <= 0) return { text: "Observation window complete", done: true };
    return { text: `${minutes} min left`, done: false };
  }

  function monitoringItem(session) {
    const left = el("span", {
      class: "minutes-left",
      dataset: { endsAt: session.observation_ends_at || "", minutes: session.minutes_left ?? "" },
    });
    const bar = el("div", { class: "window-bar", "aria-hidden": "true" }, el("div", { class: "fill" }));
    const item = el(
      "li",
      { class: "monitoring-item", dataset: { sessionId: session.session_id } },
      el(
        "div",
        { class: "row" },
        patientButton(session.patient_id, `Patient ${shortId(session.patient_id)}`),
        el("span", { class: "muted", text: `Session ${session.session_number}` }),
        left,
      ),
      el(
        "div",
        { class: "row small" },
        el("span", {}, "Dosed ", timeElement(session.dosed_at)),
        el("span", {}, "Window ends ", timeElement(session.observation_ends_at)),
        el("span", { text: `Last BP ${session.last_bp || "—"}` }),
      ),
      bar,
    );
    item.dataset.dosedAt = session.dosed_at || "";
    return item;
  }

  function tickCountdowns() {
    for (const item of document.querySelectorAll("#monitoring .monitoring-item")) {
      const left = item.querySelector(".minutes-left");
      const ends = left.dataset.endsAt;
      const fallback = left.dataset.minutes === "" ? null : Number(left.dataset.minutes);
      const { text, done } = minutesLeftText(ends, fallback);
      left.textContent = text;
      item.dataset.done = done ? "true" : "false";
      const dosed = Date.parse(item.dataset.dosedAt);
      const end = Date.parse(ends);
      if (Number.isFinite(dosed) && Number.isFinite(end) && end > dosed) {
        const share = Math.min(1, Math.max(0, (Date.now() - dosed) / (end - dosed)));
        item.querySelector(".fill").style.width = `${Math.round(share * 100)}%`;
      }
    }
  }

  function renderToday(today, inMonitoring) {
    const monitoring = [...inMonitoring].sort(
      (a, b) => Date.parse(a.observation_ends_at) - Date.parse(b.observation_ends_at),
    );
    $("#monitoring").replaceChildren(...monitoring.map(monitoringItem));
    $("#monitoring-empty").hidden = monitoring.length > 0;
    tickCountdowns();

    const sessions = [...today].sort(
      (a, b) => Date.parse(a.scheduled_for) - Date.parse(b.scheduled_for),
    );
    fillTable(
      $("#today-table"),
      sessions.map((s) =>
        el(
          "tr",
          { dataset: { sessionId: s.session_id, status: s.status } },
          el("td", {}, timeElement(s.scheduled_for, formats.time)),
          el("td", {}, patientButton(s.patient_id)),
          el("td", { class: "num", text: String(s.session_number) }),
          el("td", {}, el("span", { class: "status", dataset: { status: s.status }, text: SESSION_STATUS[s.status] || s.status })),
          el("td", { text: s.last_bp || "—" }),
        ),
      ),
    );
    $("#today-table").hidden = sessions.length === 0;
    $("#today-empty").hidden = sessions.length > 0;
  }

  // Charts --------------------------------------------------------------------------------------

  const hasCharts = typeof window.Chart === "function";
  if (hasCharts) {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 12;
    Chart.defaults.color = "#374151";
    Chart.defaults.animation = false; // a live page: no motion on every update
    Chart.defaults.maintainAspectRatio = false;
  }

  /** Chart.js plugin: writes each bar's value (and an optional note) at the end of the bar. */
  const barLabels = {
    id: "barLabels",
    afterDatasetsDraw(chart) {
      const text = chart.$barText; // kept off the options: Chart.js would call it as scriptable
      if (!text) return;
      const { ctx } = chart;
      ctx.save();
      ctx.font = `600 12px ${Chart.defaults.font.family}`;
      ctx.fillStyle = "#111827";
      chart.data.datasets.forEach((dataset, di) => {
        const meta = chart.getDatasetMeta(di);
        if (meta.hidden) return;
        meta.data.forEach((bar, i) => {
          const label = text(dataset.data[i], i, di);
          if (!label) return;
          const horizontal = chart.options.indexAxis === "y";
          ctx.textAlign = horizontal ? "left" : "center";
          ctx.textBaseline = horizontal ? "middle" : "bottom";
          if (horizontal) ctx.fillText(label, bar.x + 6, bar.y);
          else ctx.fillText(label, bar.x, bar.y - 3);
        });
      });
      ctx.restore();
    },
  };

  /** Chart.js plugin: dashed horizontal reference lines with a label (e.g. PHQ-9 remission). */
  const referenceLines = {
    id: "referenceLines",
    afterDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      ctx.save();
      for (const line of chart.$referenceLines || []) {
        const y = scales.y.getPixelForValue(line.value);
        ctx.strokeStyle = line.color;
        ctx.lineWidth = 1.5;
        ctx.setLineDash([6, 4]);
        ctx.beginPath();
        ctx.moveTo(chartArea.left, y);
        ctx.lineTo(chartArea.right, y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = line.color;
        ctx.font = `12px ${Chart.defaults.font.family}`;
        ctx.textAlign = "right";
        ctx.textBaseline = "bottom";
        ctx.fillText(line.label, chartArea.right - 4, y - 3);
      }
      ctx.restore();
    },
  };

  function chart(id, config) {
    if (!hasCharts) return null;
    if (!state.charts[id]) state.charts[id] = new Chart(document.getElementById(id), config);
    return state.charts[id];
  }

  // Funnel --------------------------------------------------------------------------------------

  function renderFunnel(funnel, discontinued) {
    $("#discontinued").textContent = String(discontinued);
    fillTable(
      $("#funnel-table"),
      funnel.map((s) =>
        el(
          "tr",
          { dataset: { stage: s.stage } },
          el("th", { scope: "row", text: s.label }),
          el("td", { class: "patients num", text: String(s.patients) }),
          el("td", { class: "conversion num", text: percent(s.conversion) }),
        ),
      ),
    );
    $("#funnel").setAttribute(
      "aria-label",
      "Pathway funnel: " +
        funnel
          .map((s) => `${s.label} ${s.patients}${s.conversion == null ? "" : ` (${percent(s.conversion)} of previous stage)`}`)
          .join("; "),
    );

    const funnelChart = chart("funnel", {
      type: "bar",
      data: { labels: [], datasets: [{ data: [], backgroundColor: "#2563eb", borderRadius: 3 }] },
      plugins: [barLabels],
      options: {
        indexAxis: "y",
        layout: { padding: { right: 90 } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, grid: { color: "#e5e7eb" } },
          y: { grid: { display: false }, ticks: { font: { size: 13 } } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const stage = item.chart.$stages[item.dataIndex];
                const conversion = stage && stage.conversion != null
                  ? `, ${percent(stage.conversion)} of previous stage` : "";
                return `${item.raw} patients${conversion}`;
              },
            },
          },
        },
      },
    });
    if (!funnelChart) return;
    funnelChart.$stages = funnel;
    funnelChart.$barText = (value, i) => {
      const stage = funnel[i];
      return !stage || stage.conversion == null
        ? String(value) : `${value}  (${percent(stage.conversion)})`;
    };
    funnelChart.data.labels = funnel.map((s) => s.label);
    funnelChart.data.datasets[0].data = funnel.map((s) => s.patients);
    funnelChart.update("none");
  }

  // Outcomes ------------------------------------------------------------------------------------

  function swatch(color) {
    const node = el("span", { class: "swatch", "aria-hidden": "true" });
    node.style.backgroundColor = color; // CSSOM, not a style attribute: fine under a strict CSP
    return node;
  }

  function renderOutcomeChart() {
    const outcomes = state.outcomes || {};
    const instruments = outcomes.instruments || [];
    const all = outcomes.trajectories || [];
    $("#instrument-tabs").replaceChildren(
      ...instruments.map((i) => {
        const count = all.filter((t) => t.instrument === i.instrument).length;
        const button = el("button", {
          type: "button",
          role: "radio",
          dataset: { instrument: i.instrument },
          text: `${INSTRUMENTS[i.instrument] || i.instrument} (${count})`,
        });
        button.setAttribute("aria-checked", String(i.instrument === state.instrument));
        button.addEventListener("click", () => {
          state.instrument = i.instrument;
          renderOutcomeChart();
        });
        return button;
      }),
    );
    const scale = instruments.find((i) => i.instrument === state.instrument) || {};
    $("#trajectories-caption").textContent = INSTRUMENTS[state.instrument] || state.instrument;
    renderTrajectories(all.filter((t) => t.instrument === state.instrument), scale);
  }

  function renderTrajectories(trajectories, scale) {
    const label = INSTRUMENTS[state.instrument] || state.instrument;
    const reasons = [...new Set(trajectories.map((t) => t.referral_reason))];
    $("#trajectory-legend").replaceChildren(
      ...reasons.map((r) =>
        el("li", {}, swatch(reasonOf(r).color), reasonOf(r).label),
      ),
    );
    $("#trajectories").setAttribute(
      "aria-label",
      `${label} trajectories of ${trajectories.length} patients; the table below lists them.`,
    );
    fillTable(
      $("#trajectories-table"),
      trajectories.map((t) => {
        const points = [...t.points].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
        const first = points[0];
        const last = points[points.length - 1];
        return el(
          "tr",
          { dataset: { patientId: t.patient_id } },
          el("td", {}, patientButton(t.patient_id)),
          el("td", { text: reasonOf(t.referral_reason).label }),
          el("td", { class: "num", text: first ? String(first.total) : "—" }),
          el("td", { class: "num", text: last ? String(last.total) : "—" }),
          el("td", { text: String(points.length) + (points.length === 1 ? " time" : " times") }),
        );
      }),
    );

    const trajectoryChart = chart("trajectories", {
      type: "line",
      data: { datasets: [] },
      plugins: [referenceLines],
      options: {
        parsing: false,
        normalized: true,
        interaction: { mode: "nearest", intersect: true },
        scales: {
          x: {
            type: "linear",
            ticks: {
              maxTicksLimit: 6,
              callback: (value) => formats.date.format(new Date(value)),
            },
            grid: { color: "#eef0f3" },
          },
          y: {
            min: 0,
            max: 27,
            ticks: { stepSize: 5 },
            title: { display: true, text: label },
            grid: { color: "#eef0f3" },
          },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => {
                const ds = items[0].dataset;
                return `Patient ${shortId(ds.patientId)} · ${reasonOf(ds.reason).label}`;
              },
              label: (item) => {
                const point = item.raw;
                const name = INSTRUMENTS[state.instrument] || state.instrument;
                return `${name} ${point.y} (${point.timepoint || "measure"}), ${formats.date.format(new Date(point.x))}`;
              },
            },
          },
        },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: (_event, elements) => {
          if (!elements.length) return;
          const ds = state.charts.trajectories.data.datasets[elements[0].datasetIndex];
          openTimeline(ds.patientId, $("#trajectories"));
        },
      },
    });
    if (!trajectoryChart) return;
    trajectoryChart.options.scales.y.max = scale.max_total || 27;
    trajectoryChart.options.scales.y.ticks.stepSize = scale.max_total > 40 ? 10 : scale.max_total > 20 ? 5 : 1;
    trajectoryChart.options.scales.y.title.text = label;
    trajectoryChart.$referenceLines =
      scale.remission_below === null || scale.remission_below === undefined
        ? []
        : [{ value: scale.remission_below, color: "#047857", label: `remission (< ${scale.remission_below})` }];
    trajectoryChart.data.datasets = trajectories.map((t) => {
      const color = reasonOf(t.referral_reason).color;
      return {
        label: `Patient ${shortId(t.patient_id)}`,
        patientId: t.patient_id,
        reason: t.referral_reason,
        data: t.points
          .map((p) => ({ x: Date.parse(p.at), y: p.total, timepoint: p.timepoint }))
          .sort((a, b) => a.x - b.x),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 1.5,
        pointRadius: 2.5,
        pointHoverRadius: 5,
        pointHitRadius: 8,
        tension: 0,
      };
    });
    trajectoryChart.options.scales.x.display = trajectories.length > 0;
    trajectoryChart.update("none");
    $("#trajectories-empty").hidden = trajectories.length > 0;
  }

  function renderRates(rates) {
    $("#rates").setAttribute(
      "aria-label",
      "Response and remission rates: " +
        rates
          .map((r) => `${reasonOf(r.referral_reason).label}, ${r.completed} completed: response ${percent(r.response_rate)}, remission ${percent(r.remission_rate)}`)
          .join("; "),
    );
    const ratesChart = chart("rates", {
      type: "bar",
      data: {
        labels: [],
        datasets: [
          { label: "Response", data: [], backgroundColor: "#2563eb", borderRadius: 3 },
          { label: "Remission", data: [], backgroundColor: "#059669", borderRadius: 3 },
        ],
      },
      plugins: [barLabels],
      options: {
        layout: { padding: { top: 18 } },
        scales: {
          y: {
            min: 0,
            max: 100,
            ticks: { stepSize: 25, callback: (v) => `${v}%` },
            grid: { color: "#eef0f3" },
          },
          x: { grid: { display: false } },
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: (item) => {
                const r = item.chart.$rates[item.dataIndex];
                const count = item.datasetIndex === 0 ? r.responders : r.remitters;
                return `${item.dataset.label}: ${item.raw === null ? "—" : `${Math.round(item.raw)}%`} (${count} of ${r.completed})`;
              },
            },
          },
        },
      },
    });
    if (!ratesChart) return;
    const asPercent = (fraction) => (fraction === null || fraction === undefined ? null : fraction * 100);
    ratesChart.$rates = rates;
    ratesChart.$barText = (value) =>
      value === null || value === undefined ? "" : `${Math.round(value)}%`;
    ratesChart.data.labels = rates.map((r) => [reasonOf(r.referral_reason).label, `n = ${r.completed}`]);
    ratesChart.data.datasets[0].data = rates.map((r) => asPercent(r.response_rate));
    ratesChart.data.datasets[1].data = rates.map((r) => asPercent(r.remission_rate));
    ratesChart.update("none");
    $("#rates-empty").hidden = rates.length > 0;
  }

  // Projection lag ------------------------------------------------------------------------------

  function renderLag(lag) {
    fillTable(
      $("#lag"),
      lag.map((t) =>
        el(
          "tr",
          { dataset: { topic: t.topic, behind: t.lag > 0 ? "true" : "false" } },
          el("th", { scope: "row", class: "mono", text: t.topic }),
          el("td", { class: "num", text: String(t.consumed) }),
          el("td", { class: "num", text: String(t.end) }),
          el("td", { class: "num lag-value", text: String(t.lag) }),
        ),
      ),
    );
  }

  // Dead letters --------------------------------------------------------------------------------

  /** One row per consumer: its dead letters waiting for `carepath-dlq replay`, all of them, and
   * the topics they came from. */
  function renderDeadLetters(deadLetters) {
    const byConsumer = new Map();
    for (const d of deadLetters) {
      const row = byConsumer.get(d.consumer) || { consumer: d.consumer, waiting: 0, total: 0, from: [] };
      row.waiting += d.waiting;
      row.total += d.total;
      if (d.total > 0) row.from.push(d);
      byConsumer.set(d.consumer, row);
    }
    const rows = [...byConsumer.values()];
    const waiting = rows.reduce((sum, r) => sum + r.waiting, 0);
    $("#dead-letters-count").textContent = String(waiting);
    $("#dead-letters-count").dataset.nonzero = waiting > 0 ? "true" : "false";
    $("#dead-letters-empty").hidden = rows.length > 0;
    fillTable(
      $("#dead-letters"),
      rows.map((r) =>
        el(
          "tr",
          { dataset: { consumer: r.consumer, waiting: r.waiting > 0 ? "true" : "false" } },
          el("th", { scope: "row", text: r.consumer }),
          el(
            "td",
            { class: "mono" },
            ...(r.from.length
              ? r.from.map((d) => el("div", { text: `${d.topic}: ${d.waiting} waiting of ${d.total}` }))
              : ["—"]),
          ),
          el("td", { class: "num waiting-value", text: String(r.waiting) }),
          el("td", { class: "num", text: String(r.total) }),
        ),
      ),
    );
  }

  // Patient timeline ----------------------------------------------------------------------------

  const humanType = (type) => String(type).replace(/([a-z0-9])([A-Z])/g, "$1 $2");

  function openTimeline(patientId, opener) {
    state.timelinePatient = patientId;
    state.timelineOpener = opener || document.activeElement;
    const panel = $("#timeline");
    panel.dataset.patientId = patientId;
    $("#timeline-title").textContent = `Patient ${shortId(patientId)}`;
    $("#timeline-patient").textContent = patientId;
    $("#timeline-entries").replaceChildren();
    panel.hidden = false;
    document.body.classList.add("timeline-open");
    panel.focus();
    // Loaded on opening and on request only: every read is recorded in the audit trail, so it
    // is not re-read on each live update.
    loadTimeline(patientId, { quiet: false });
  }

  function closeTimeline() {
    const panel = $("#timeline");
    if (panel.hidden) return;
    panel.hidden = true;
    document.body.classList.remove("timeline-open");
    state.timelinePatient = null;
    const opener = state.timelineOpener;
    state.timelineOpener = null;
    if (opener && document.contains(opener)) opener.focus({ preventScroll: true });
  }

  async function loadTimeline(patientId, { quiet }) {
    const status = $("#timeline-status");
    if (!quiet) {
      status.textContent = "Loading…";
      status.hidden = false;
    }
    try {
      const timeline = await request(`/api/patients/${encodeURIComponent(patientId)}/timeline`);
      if (state.timelinePatient !== patientId) return; // another patient was opened meanwhile
      // The server orders by clinical time (when it happened), then recording order; newest
      // first is its reverse. A late entry (recorded well after it happened) says so.
      const entries = [...timeline.entries].reverse();
      $("#timeline-entries").replaceChildren(
        ...entries.map((entry) =>
          el(
            "li",
            { class: "entry", dataset: { context: entry.context, type: entry.type } },
            el(
              "div",
              { class: "entry-head" },
              timeElement(entry.at, formats.dayTime),
              entry.late_entry
                ? el("span", {
                    class: "late-entry",
                    title: `Charted late: recorded ${formats.full.format(new Date(entry.recorded_at))}`,
                    text: "late entry",
                  })
                : null,
              el("span", { class: "context", dataset: { context: entry.context }, text: entry.context }),
            ),
            el("p", { class: "entry-type", text: humanType(entry.type) }),
            entry.summary && entry.summary !== entry.type
              ? el("p", { class: "entry-summary", text: entry.summary })
              : null,
          ),
        ),
      );
      const erased = timeline.erased_at ? " · identifying data erased" : "";
      status.textContent = entries.length
        ? `${entries.length} entries, newest first${erased}`
        : "No entries yet.";
    } catch (error) {
      if (error instanceof Unauthorized) return showSignIn();
      if (state.timelinePatient !== patientId) return;
      status.textContent = error instanceof Refused && error.status === 404
        ? "No events recorded for this patient yet."
        : `Could not load the timeline (${error.message}).`;
      status.hidden = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Events and timers

  document.addEventListener("click", (event) => {
    const ack = event.target.closest("#alerts .ack");
    if (ack) return acknowledge(ack.closest("li[data-alert-id]"));
    const patient = event.target.closest("button[data-patient-id]");
    if (patient) return openTimeline(patient.dataset.patientId, patient);
  });
  $("#timeline-close").addEventListener("click", closeTimeline);
  $("#timeline-refresh").addEventListener("click", () => {
    if (state.timelinePatient) loadTimeline(state.timelinePatient, { quiet: false });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeTimeline();
  });

  function tickClock() {
    const clock = $("#clock");
    const now = new Date();
    clock.textContent = formats.clock.format(now);
    clock.setAttribute("datetime", now.toISOString());
    tickCountdowns();
  }

  tickClock();
  setInterval(tickClock, 1000);
  refresh();
})();
