// Triggers: the registry with create (every type) and delete, the fired events (live), and
// webhook dead letters with replay. The API validates every trigger; its error is shown as is.
import { html, useEffect, useState } from "../vendor/htm-preact-standalone.module.js";
import { api, usePoll } from "./api.js";
import { TRIGGER_TYPES, useAlerts } from "./alerts.js";
import { AlertTable } from "./overview.js";
import { Badge, Card, ErrorNote, Table } from "./components.js";
import { clock, int, short } from "./format.js";
import { TRIGGER_PARAMS, triggerBody } from "./trigger-types.js";

function emptyForm(assetId = "") {
  return { asset_id: assetId, type: "PRICE_ABOVE", params: {}, cooldown_ms: "", condition_id: "", webhook_url: "", webhook_secret: "" };
}

function ParamField({ param, value, onInput }) {
  const id = `param-${param.name}`;
  const label = html`<label for=${id}>${param.name}${param.required ? html`<span class="req" title="required">*</span>` : null}</label>`;
  if (param.kind === "select") {
    return html`<div class="field">${label}
      <select id=${id} name=${param.name} value=${value ?? param.default} onChange=${(e) => onInput(e.target.value)}>
        ${param.options.map((o) => html`<option value=${o}>${o}</option>`)}
      </select></div>`;
  }
  if (param.kind === "bool") {
    return html`<div class="field check"><label for=${id}>
      <input id=${id} type="checkbox" name=${param.name} checked=${value ?? param.default} onChange=${(e) => onInput(e.target.checked)} />
      ${param.name}</label></div>`;
  }
  return html`<div class="field">${label}
    <input id=${id} name=${param.name} value=${value ?? ""} inputmode=${param.kind === "asset" ? "numeric" : "decimal"}
      placeholder=${param.default !== undefined ? String(param.default) : ""} onInput=${(e) => onInput(e.target.value)} autocomplete="off" />
    ${param.hint && html`<small>${param.hint}</small>`}</div>`;
}

function CreateForm({ initialAsset, onCreated }) {
  const [form, setForm] = useState(() => emptyForm(initialAsset));
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (initialAsset) setForm((f) => ({ ...f, asset_id: initialAsset }));
  }, [initialAsset]);
  const spec = TRIGGER_PARAMS[form.type];
  const set = (key, value) => setForm((f) => ({ ...f, [key]: value }));
  const setParam = (name, value) => setForm((f) => ({ ...f, params: { ...f.params, [name]: value } }));

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const out = await api("/triggers", { method: "POST", body: triggerBody(form) });
      setCreated(out);
      setForm((f) => ({ ...emptyForm(f.asset_id), type: f.type }));
      onCreated(out.trigger_id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="trigger-form" id="trigger-form" onSubmit=${submit} novalidate>
    <div class="field grow"><label for="t-asset">asset_id<span class="req">*</span></label>
      <input id="t-asset" name="asset_id" value=${form.asset_id} onInput=${(e) => set("asset_id", e.target.value)}
        placeholder="token id (open a market and use “Create trigger”)" autocomplete="off" required /></div>
    <div class="field"><label for="t-type">type</label>
      <select id="t-type" name="type" value=${form.type} onChange=${(e) => setForm((f) => ({ ...f, type: e.target.value, params: {} }))}>
        ${TRIGGER_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
      </select></div>
    <p class="help">${spec.help}</p>
    <div class="params">
      ${spec.params.map((p) => html`<${ParamField} key=${`${form.type}-${p.name}`} param=${p} value=${form.params[p.name]} onInput=${(v) => setParam(p.name, v)} />`)}
    </div>
    <details class="more">
      <summary>Cooldown, webhook, condition id</summary>
      <div class="params">
        <div class="field"><label for="t-cooldown">cooldown_ms</label>
          <input id="t-cooldown" name="cooldown_ms" value=${form.cooldown_ms} inputmode="numeric" placeholder="0" onInput=${(e) => set("cooldown_ms", e.target.value)} /></div>
        <div class="field grow"><label for="t-url">webhook_url</label>
          <input id="t-url" name="webhook_url" value=${form.webhook_url} placeholder="your receiver (signed, retried)" onInput=${(e) => set("webhook_url", e.target.value)} autocomplete="off" /></div>
        <div class="field"><label for="t-secret">webhook_secret</label>
          <input id="t-secret" name="webhook_secret" type="password" value=${form.webhook_secret} placeholder="generated when empty" onInput=${(e) => set("webhook_secret", e.target.value)} autocomplete="off" /></div>
        <div class="field grow"><label for="t-condition">condition_id</label>
          <input id="t-condition" name="condition_id" value=${form.condition_id} placeholder="0x… (filled in for tracked tokens)" onInput=${(e) => set("condition_id", e.target.value)} autocomplete="off" /></div>
      </div>
    </details>
    <div class="form-actions">
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Creating…" : "Create trigger"}</button>
    </div>
    ${error && html`<p class="notice tone-bad" role="alert" id="trigger-error"><strong>${error.code}</strong> ${typeof error.detail === "string" ? error.detail : JSON.stringify(error.detail)}</p>`}
    ${created && html`<p class="notice tone-ok" id="trigger-created">Created <span class="mono">${created.trigger_id}</span>.
      ${created.webhook_secret && html` Webhook signing secret (shown once): <code class="secret">${created.webhook_secret}</code>`}</p>`}
  </form>`;
}

function DeleteButton({ onConfirm, label = "Delete" }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(timer);
  }, [armed]);
  return armed
    ? html`<button type="button" class="danger" onClick=${() => { setArmed(false); onConfirm(); }}>Confirm</button>`
    : html`<button type="button" class="ghost" onClick=${() => setArmed(true)}>${label}</button>`;
}

function conditionText(condition) {
  return Object.entries(condition)
    .filter(([k]) => k !== "type")
    .map(([k, v]) => `${k}=${k === "paired_asset_id" ? short(String(v)) : v}`)
    .join(" ");
}

function webhookHost(url) {
  if (!url) return "–";
  try {
    return new URL(url).host;
  } catch {
    return url.slice(0, 40);
  }
}

export function Triggers({ query }) {
  const registry = usePoll("/triggers", 30_000);
  const letters = usePoll("/webhooks/dead-letters?limit=100", 10_000);
  const { events } = useAlerts();
  const [typeFilter, setTypeFilter] = useState("");
  const [actionError, setActionError] = useState(null);
  const [notice, setNotice] = useState(null);
  const [letterError, setLetterError] = useState(null);
  const [letterNotice, setLetterNotice] = useState(null);
  const triggers = registry.data?.triggers || [];

  const remove = async (id) => {
    setActionError(null);
    try {
      await api(`/triggers?trigger_id=${encodeURIComponent(id)}`, { method: "DELETE" });
      setNotice(`Deleted ${id}.`);
    } catch (err) {
      setActionError(err);
    }
    registry.refresh();
  };
  const replay = async (webhookId) => {
    setLetterError(null);
    setLetterNotice(null);
    try {
      await api("/webhooks/dead-letters/replay", { method: "POST", body: { webhook_id: webhookId } });
      setLetterNotice(`Queued ${webhookId} again.`);
    } catch (err) {
      setLetterError(err);
    }
    letters.refresh();
  };

  const columns = [
    { label: "Trigger", render: (t) => html`<span class="mono">${t.trigger_id}</span>` },
    { label: "Type", render: (t) => html`<span class="mono">${t.condition.type}</span>` },
    { label: "Asset", render: (t) => html`<a class="mono" href=${`#/market/${t.asset_id}`} title=${t.asset_id}>${short(t.asset_id)}</a>` },
    { label: "Parameters", render: (t) => html`<span class="mono small">${conditionText(t.condition)}</span>` },
    { label: "Cooldown", num: true, render: (t) => (t.cooldown_ms ? `${int(t.cooldown_ms)} ms` : "–") },
    { label: "Webhook", render: (t) => webhookHost(t.webhook_url) },
    { label: "", render: (t) => html`<${DeleteButton} onConfirm=${() => remove(t.trigger_id)} />` },
  ];
  const letterColumns = [
    { label: "Dead since", render: (d) => clock(d.dead_at_ms) },
    { label: "Endpoint", render: (d) => html`<span class="mono">${d.endpoint_id}</span>` },
    { label: "Event", render: (d) => d.event_type },
    { label: "Attempts", num: true, render: (d) => d.attempts },
    { label: "Last status", num: true, render: (d) => d.last_status ?? "–" },
    { label: "Reason", render: (d) => html`<span title=${d.last_error}>${d.reason}</span>` },
    { label: "", render: (d) => html`<button type="button" class="ghost" onClick=${() => replay(d.webhook_id)}>Replay</button>` },
  ];
  const shown = typeFilter ? events.filter((e) => e.type === typeFilter) : events;

  return html`<div class="page" id="page-triggers">
    <${Card} title="New trigger" wide>
      <${CreateForm} initialAsset=${query.get("asset") || ""} onCreated=${(id) => { setNotice(null); registry.refresh(); }} />
    <//>
    <${Card} title=${html`Registry <${Badge}>${int(registry.data?.count)}<//>`} wide id="registry">
      <${ErrorNote} error=${registry.error} what="/triggers" />
      <${ErrorNote} error=${actionError} />
      ${notice && html`<p class="notice tone-ok">${notice}</p>`}
      <${Table} columns=${columns} rows=${triggers} rowKey=${(t) => t.trigger_id}
        rowAttrs=${(t) => ({ "data-trigger-id": t.trigger_id })} empty="No trigger registered." stack />
    <//>
    <${Card} title="Fired events" wide id="fired"
      actions=${html`<label class="inline">type
        <select value=${typeFilter} onChange=${(e) => setTypeFilter(e.target.value)}>
          <option value="">all</option>${TRIGGER_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></label>`}>
      <${AlertTable} events=${shown} empty="No event fired yet." />
    <//>
    <${Card} title=${html`Webhook dead letters <${Badge} tone=${letters.data?.count ? "bad" : "neutral"}>${int(letters.data?.count)}<//>`} wide id="dead-letters">
      <${ErrorNote} error=${letters.error} what="/webhooks/dead-letters" />
      <${ErrorNote} error=${letterError} />
      ${letterNotice && html`<p class="notice tone-ok">${letterNotice}</p>`}
      <${Table} columns=${letterColumns} rows=${letters.data?.items || []} rowKey=${(d) => d.webhook_id}
        rowAttrs=${(d) => ({ "data-webhook-id": d.webhook_id })}
        empty="No dead letter: every webhook delivery succeeded or is still being retried." stack />
    <//>
  </div>`;
}
