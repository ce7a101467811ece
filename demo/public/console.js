// The demo console: renders the fake Slack workspace the way Slack shows it (Block Kit, mrkdwn, threads,
// edits, ephemerals) from the state the demo server streams, and sends what you type or click back to it.
'use strict';

const state = { data: undefined, user: 'U0DANA', channel: 'C0TRAIN', home: false, seen: {}, modalKey: '', closed: new Set() };
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------------
// mrkdwn

const escapeHtml = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** Slack escapes &, < and > in message text; undo that before escaping for HTML. */
const decodeSlack = (text) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function userName(id) {
  const user = state.data?.users.find((candidate) => candidate.id === id);
  return user ? user.name : id;
}

const channelName = (id) => state.data?.channels.find((channel) => channel.id === id)?.name ?? id;

function token(inner) {
  const [target, label] = inner.split('|', 2);
  if (target.startsWith('@')) return `<span class="mention">@${escapeHtml(userName(target.slice(1)))}</span>`;
  if (target.startsWith('#')) return `<span class="mention">#${escapeHtml(label ?? channelName(target.slice(1)))}</span>`;
  if (target.startsWith('!subteam^')) return `<span class="mention">${escapeHtml(label ?? `@${state.data?.groups[target.slice(9)] ?? target.slice(9)}`)}</span>`;
  if (target === '!here' || target === '!channel' || target === '!everyone') return `<span class="mention">@${target.slice(1)}</span>`;
  if (target.startsWith('!date^')) {
    const seconds = Number(target.split('^')[1]);
    return escapeHtml(Number.isFinite(seconds) ? new Date(seconds * 1000).toLocaleString() : decodeSlack(label ?? target));
  }
  if (/^(https?|mailto):/.test(target)) return `<a href="${escapeHtml(decodeSlack(target))}" target="_blank" rel="noreferrer">${escapeHtml(decodeSlack(label ?? target))}</a>`;
  return escapeHtml(decodeSlack(`<${inner}>`));
}

/** The shortcodes the bot uses, as Slack shows them. */
const EMOJI = {
  alarm_clock: '\u23F0', arrows_counterclockwise: '\u{1F504}', ballot_box_with_check: '\u2611\uFE0F', construction: '\u{1F6A7}',
  double_vertical_bar: '\u23F8\uFE0F', hourglass: '\u231B', unlock: '\u{1F513}', fast_forward: '\u23E9', gear: '\u2699\uFE0F', hourglass_flowing_sand: '\u23F3',
  inbox_tray: '\u{1F4E5}', information_source: '\u2139\uFE0F', large_green_circle: '\u{1F7E2}', lock: '\u{1F512}', memo: '\u{1F4DD}',
  no_entry: '\u26D4', no_entry_sign: '\u{1F6AB}', package: '\u{1F4E6}', repeat: '\u{1F501}', rewind: '\u23EA', rocket: '\u{1F680}',
  rotating_light: '\u{1F6A8}', satellite_antenna: '\u{1F4E1}', warning: '\u26A0\uFE0F', wastebasket: '\u{1F5D1}\uFE0F',
  white_check_mark: '\u2705', x: '\u274C', raised_hand: '\u270B', white_circle: '\u26AA',
};

const emoji = (html) => html.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
/** plain_text objects: no formatting, but emoji shortcodes still show. */
const plain = (text) => emoji(escapeHtml(text));

function inline(text) {
  return emoji(escapeHtml(decodeSlack(text)))
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, '$1<b>$2</b>')
    .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, '$1<i>$2</i>')
    .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/g, '$1<s>$2</s>');
}

/**
 * One line of mrkdwn. Code spans and <...> tokens are set aside first so emphasis never applies inside
 * them, yet may wrap them (`*Roll back `x`?*` is bold around the code).
 */
function line(text) {
  const kept = [];
  const marked = text.replace(/`([^`\n]+)`|<([^<>\n]+)>/g, (_whole, code, inner) => {
    kept.push(code !== undefined ? `<code>${escapeHtml(decodeSlack(code))}</code>` : token(inner));
    return `\uE000${kept.length - 1}\uE000`;
  });
  return inline(marked).replace(/\uE000(\d+)\uE000/g, (_whole, index) => kept[Number(index)]);
}

function mrkdwn(text) {
  const parts = text.split('```');
  return parts
    .map((part, index) => {
      if (index % 2 === 1) return `<pre>${escapeHtml(decodeSlack(part))}</pre>`;
      const lines = part.split('\n');
      let html = '';
      let quote = [];
      const flush = () => {
        if (quote.length > 0) html += `<blockquote>${quote.map(line).join('<br>')}</blockquote>`;
        quote = [];
      };
      lines.forEach((text, i) => {
        if (text.startsWith('&gt;') || text.startsWith('>')) quote.push(text.replace(/^(&gt;|>)\s?/, ''));
        else {
          flush();
          html += line(text) + (i < lines.length - 1 ? '<br>' : '');
        }
      });
      flush();
      return html;
    })
    .join('');
}

const textObject = (object) => (object ? (object.type === 'mrkdwn' ? mrkdwn(object.text) : plain(object.text)) : '');

// ---------------------------------------------------------------------------------------------------------
// Block Kit

function button(element, where) {
  if (element.url) return `<a class="slack-button" href="${escapeHtml(element.url)}" target="_blank" rel="noreferrer">${escapeHtml(element.text.text)}</a>`;
  const data = { ...where, actionId: element.action_id, confirm: element.confirm, value: element.value };
  return `<button type="button" class="slack-button ${element.style ?? ''}" data-click="${escapeHtml(JSON.stringify(data))}">${escapeHtml(element.text.text)}</button>`;
}

function blocks(list, where) {
  return list
    .map((block) => {
      switch (block.type) {
        case 'header':
          return `<div class="block-header">${plain(block.text.text)}</div>`;
        case 'section': {
          const text = block.text ? `<div class="text">${textObject(block.text)}</div>` : '';
          const fields = block.fields ? `<div class="block-fields">${block.fields.map((field) => `<div>${textObject(field)}</div>`).join('')}</div>` : '';
          const accessory = block.accessory?.type === 'button' ? button(block.accessory, where) : '';
          return `<div class="block-section"><div class="text">${text}${fields}</div>${accessory}</div>`;
        }
        case 'context':
          return `<div class="block-context">${block.elements.map((element) => (element.type === 'image' ? '' : `<span>${textObject(element)}</span>`)).join('')}</div>`;
        case 'divider':
          return '<hr class="block-divider">';
        case 'actions':
          return `<div class="block-actions">${block.elements.filter((element) => element.type === 'button').map((element) => button(element, where)).join('')}</div>`;
        case 'input':
          return inputBlock(block, where);
        default:
          return '';
      }
    })
    .join('');
}

/** Block Kit inputs as form controls; an external select asks the bot for its options when opened. */
function inputBlock(block, where) {
  const element = block.element;
  const error = where.errors?.[block.block_id];
  const id = `input-${block.block_id}`;
  let control = '';
  if (element.type === 'static_select' || element.type === 'external_select') {
    const options = (element.options ?? []).map((option) => `<option value="${escapeHtml(option.value)}">${plain(option.text.text)}</option>`).join('');
    const suggest = element.type === 'external_select' ? ` data-suggest="${escapeHtml(element.action_id)}"` : '';
    control = `<select id="${id}" data-block="${escapeHtml(block.block_id)}"${suggest}><option value="">${escapeHtml(element.placeholder?.text ?? 'Choose…')}</option>${options}</select>`;
  } else if (element.type === 'plain_text_input') {
    const tag = element.multiline ? 'textarea' : 'input';
    control = `<${tag} id="${id}" data-block="${escapeHtml(block.block_id)}" placeholder="${escapeHtml(element.placeholder?.text ?? '')}">${tag === 'textarea' ? '</textarea>' : ''}`;
  }
  const hint = block.hint ? `<div class="hint">${plain(block.hint.text)}</div>` : '';
  const problem = error ? `<div class="field-error" role="alert">${escapeHtml(error)}</div>` : '';
  return `<div class="block-input${error ? ' has-error' : ''}"><label for="${id}">${plain(block.label.text)}${block.optional ? ' <small>(optional)</small>' : ''}</label>${control}${hint}${problem}</div>`;
}

function body(message, where) {
  return message.blocks && message.blocks.length > 0 ? blocks(message.blocks, where) : `<div>${mrkdwn(message.text)}</div>`;
}

function renderMessage(message, channel) {
  const author = message.bot ? 'mlops-bot' : userName(message.user);
  const time = new Date(Number(message.ts) * 1000).toLocaleTimeString();
  const edited = message.edited ? '<span class="edited">(edited)</span>' : '';
  const replies = message.replies.length > 0 ? `<div class="thread">${message.replies.map((reply) => renderMessage(reply, channel)).join('')}</div>` : '';
  // Files shared with the message (files.completeUploadExternal): images inline, as Slack shows them.
  const files = (message.files ?? []).map((file) => `<figure class="file"><img src="${escapeHtml(file.url)}" alt="${escapeHtml(file.alt)}"><figcaption>${escapeHtml(file.title)}</figcaption></figure>`).join('');
  return `<div class="message" data-ts="${message.ts}"><div class="meta"><b>${escapeHtml(author)}</b>${time}${edited}</div>${body(message, { channel, ts: message.ts })}${files}${replies}</div>`;
}

function renderEphemeral(ephemeral) {
  return `<div class="ephemeral"><div class="only-you">Only visible to you · mlops-bot</div>${body(ephemeral, { channel: ephemeral.channel, ephemeralId: ephemeral.id })}</div>`;
}

// ---------------------------------------------------------------------------------------------------------
// Page

function render() {
  const data = state.data;
  if (!data) return;
  const select = $('user');
  if (select.options.length === 0) {
    select.innerHTML = data.users.map((user) => `<option value="${user.id}">${escapeHtml(user.name)} (${escapeHtml(user.role)})</option>`).join('');
    select.value = state.user;
  }
  const channel = data.channels.find((candidate) => candidate.id === state.channel) ?? data.channels[0];
  state.seen[channel.id] = channel.messages.length;
  $('channels').innerHTML = data.channels
    .map((candidate) => {
      const unread = candidate.messages.length - (state.seen[candidate.id] ?? 0);
      const badge = unread > 0 && candidate.id !== channel.id ? `<span class="unread">${unread}</span>` : '';
      return `<a href="#" data-channel="${candidate.id}" class="${candidate.id === channel.id ? 'active' : ''}"># ${escapeHtml(candidate.name)}${badge}</a>`;
    })
    .join('');
  $('home-link').classList.toggle('active', state.home);
  if (state.home) {
    $('channels').querySelectorAll('a').forEach((link) => link.classList.remove('active'));
    renderHome(data);
  } else {
    renderChannel(data, channel);
  }
  renderModal(data);
  renderSidebar(data);
}

function renderHome(data) {
  $('channel-title').textContent = 'mlops-bot · Home';
  $('composer').hidden = true;
  const home = data.homes[state.user];
  $('messages').innerHTML = home ? `<div class="home" data-home-view="${home.id}">${blocks(home.blocks, { viewId: home.id })}</div>` : '<p>Opening the Home tab…</p>';
}

function renderChannel(data, channel) {
  $('composer').hidden = false;
  $('channel-title').textContent = `# ${channel.name}`;
  const list = $('messages');
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  const ephemerals = data.ephemerals.filter((ephemeral) => ephemeral.user === state.user && ephemeral.channel === channel.id);
  list.innerHTML = channel.messages.map((message) => renderMessage(message, channel.id)).join('') + ephemerals.map(renderEphemeral).join('');
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function optionElement(label, value) {
  const option = document.createElement('option');
  option.textContent = label;
  option.value = value;
  return option;
}

/** What the visitor has entered in the open form, by block_id (options with their labels). */
function formInputs() {
  const inputs = {};
  for (const control of $('modal-body').querySelectorAll('[data-block]')) {
    if (control.tagName === 'SELECT') {
      const option = control.selectedOptions[0];
      inputs[control.dataset.block] = control.value ? { value: control.value, label: option ? option.textContent : control.value } : null;
    } else {
      inputs[control.dataset.block] = control.value;
    }
  }
  return inputs;
}

/** The user's open form, drawn again only when the bot changed it (so typing is never lost). */
function renderModal(data) {
  const dialog = $('modal');
  const modal = data.modals.filter((candidate) => candidate.user === state.user && !state.closed.has(candidate.id)).at(-1);
  if (!modal) {
    if (dialog.open) dialog.close();
    state.modalKey = '';
    return;
  }
  const key = JSON.stringify([modal.id, modal.view, modal.errors]);
  if (key === state.modalKey && dialog.open) return;
  const kept = state.modalKey.startsWith(`["${modal.id}"`) ? formInputs() : {};
  state.modalKey = key;
  dialog.dataset.viewId = modal.id;
  $('modal-title').textContent = modal.view.title?.text ?? '';
  $('modal-body').innerHTML = blocks(modal.view.blocks ?? [], { viewId: modal.id, errors: modal.errors });
  for (const [block, value] of Object.entries(kept)) {
    const control = $('modal-body').querySelector(`[data-block="${block}"]`);
    if (!control || value === null) continue;
    if (control.tagName === 'SELECT' && typeof value === 'object') {
      if (![...control.options].some((option) => option.value === value.value)) control.add(optionElement(value.label, value.value));
      control.value = value.value;
    } else if (typeof value === 'string') control.value = value;
  }
  $('modal-submit').hidden = !modal.view.submit;
  $('modal-submit').textContent = modal.view.submit?.text ?? 'Submit';
  $('modal-close').textContent = modal.view.close?.text ?? 'Close';
  if (!dialog.open) dialog.showModal();
}

function renderSidebar(data) {
  if ($('events').childElementCount === 0) {
    $('events').innerHTML = data.events.map((event) => `<button type="button" data-event="${event.name}">${escapeHtml(event.label)}</button>`).join('');
  }
  const version = (value) => (value === null ? '—' : `v${escapeHtml(String(value))}`);
  const renderModel = (model) => {
    if (!model.path) return `<b>${escapeHtml(model.name)}</b><br>champion: ${version(model.champion)}<br>Deployment revision ${escapeHtml(String(model.revision))}: ${escapeHtml(String(model.image))}<br>${escapeHtml(model.ready)}`;
    // A model with environments: the path, then each environment's Deployment in its own cluster.
    const path = model.path.map((step) => `<span data-environment="${escapeHtml(step.name)}">${escapeHtml(step.name)}: ${version(step.version)}</span>`).join(' → ');
    const deployments = model.deployments
      .map((entry) => `<div data-deployment="${escapeHtml(entry.environment)}">${escapeHtml(entry.environment)} (${escapeHtml(entry.context)}) revision ${escapeHtml(String(entry.revision))}: ${escapeHtml(String(entry.image))}<br>${escapeHtml(entry.ready)}</div>`)
      .join('');
    return `<b>${escapeHtml(model.name)}</b><br>${path}${deployments}`;
  };
  $('models').innerHTML = data.models.map((model) => `<div class="model" data-model="${escapeHtml(model.name)}">${renderModel(model)}</div>`).join('');
  $('activity').innerHTML = data.activity.slice(-8).map((entry) => `<li>${escapeHtml(entry.text)}</li>`).join('');
}

async function post(path, payload) {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

const showError = (error) => {
  $('composer-error').textContent = error ? String(error.message ?? error) : '';
};

/** Slack's confirm dialog: resolves true when the visitor confirms. */
function confirmDialog(confirm) {
  if (!confirm) return Promise.resolve(true);
  const dialog = $('confirm');
  $('confirm-title').textContent = confirm.title.text;
  $('confirm-text').innerHTML = textObject(confirm.text);
  const ok = $('confirm-ok');
  const deny = $('confirm-deny');
  ok.textContent = confirm.confirm.text;
  ok.className = confirm.style ?? 'primary';
  deny.textContent = confirm.deny.text;
  dialog.showModal();
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.onclick = null;
      deny.onclick = null;
      dialog.close();
      resolve(answer);
    };
    ok.onclick = () => done(true);
    deny.onclick = () => done(false);
  });
}

document.addEventListener('click', (event) => {
  const target = event.target.closest('[data-click],[data-channel],[data-event],[data-home]');
  if (!target) return;
  event.preventDefault();
  showError(undefined);
  if (target.dataset.home) {
    // Slack sends app_home_opened each time the Home tab is opened.
    state.home = true;
    render();
    post('/api/home', { user: state.user }).catch(showError);
    return;
  }
  if (target.dataset.channel) {
    state.home = false;
    state.channel = target.dataset.channel;
    render();
    return;
  }
  if (target.dataset.event) {
    post('/api/event', { name: target.dataset.event }).catch(showError);
    return;
  }
  const click = JSON.parse(target.dataset.click);
  void confirmDialog(click.confirm).then((confirmed) => {
    if (!confirmed) return;
    if (click.viewId) {
      post('/api/view/click', { user: state.user, viewId: click.viewId, actionId: click.actionId, ...(click.value !== undefined ? { value: click.value } : {}) }).catch(showError);
      return;
    }
    const payload = { user: state.user, channel: click.channel, actionId: click.actionId, ...(click.ts ? { ts: click.ts } : { ephemeralId: click.ephemeralId }) };
    post('/api/click', payload).catch(showError);
  });
});

$('user').addEventListener('change', (event) => {
  state.user = event.target.value;
  state.modalKey = '';
  render();
  if (state.home) post('/api/home', { user: state.user }).catch(showError);
});

$('shortcut').addEventListener('click', () => {
  showError(undefined);
  post('/api/shortcut', { user: state.user }).catch(showError);
});

// An external select asks the bot for its options (block_suggestion) when it is opened.
$('modal-body').addEventListener('focusin', (event) => {
  const select = event.target.closest('select[data-suggest]');
  if (!select || select.dataset.loading) return;
  select.dataset.loading = '1';
  const viewId = $('modal').dataset.viewId;
  post('/api/view/suggest', { user: state.user, viewId, actionId: select.dataset.suggest, query: '', inputs: formInputs() })
    .then(({ options }) => {
      const chosen = select.value;
      for (const option of [...select.options].slice(1)) option.remove();
      for (const option of options) select.add(optionElement(option.text.text, option.value));
      if (chosen) select.value = chosen;
    })
    .catch(showError)
    .finally(() => delete select.dataset.loading);
});

$('modal-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const viewId = $('modal').dataset.viewId;
  post('/api/view/submit', { user: state.user, viewId, inputs: formInputs() }).catch(showError);
});

$('modal-close').addEventListener('click', () => {
  // Closing a modal tells the app nothing unless it asked (notify_on_close); the bot does not.
  state.closed.add($('modal').dataset.viewId);
  state.modalKey = '';
  $('modal').close();
});

$('play').addEventListener('click', () => {
  post('/api/play', {}).catch(showError);
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('command');
  const text = input.value.trim();
  if (!text) return;
  if (!/^\/mlops(\s|$)/.test(text)) {
    showError(new Error('The bot only listens to /mlops commands here: try /mlops help'));
    return;
  }
  showError(undefined);
  input.value = '';
  post('/api/command', { user: state.user, channel: state.channel, text }).catch(showError);
});

const stream = new EventSource('/api/stream');
stream.onmessage = (message) => {
  state.data = JSON.parse(message.data);
  render();
};
