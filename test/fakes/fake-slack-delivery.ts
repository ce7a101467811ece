import { randomBytes } from 'node:crypto';
import { encodeInteractionPayload, postSigned } from '../helpers/slack-request.js';
import type { FakeSocketMode } from './fake-socket-mode.js';
import type { FakeView, JsonObject } from './fake-slack-api.js';

/**
 * The half of Slack that calls the app: a user opening the Home tab, running a global shortcut, typing in an
 * external select, clicking a button in a modal or the Home tab, submitting a modal. Payload shapes follow
 * docs.slack.dev (reference/interaction-payloads: block_actions, block_suggestion, view_submission,
 * shortcut; events: app_home_opened) and slack.md §2-§5. Over HTTP every request is signed with the app's
 * signing secret (v0) exactly as Slack signs it; over Socket Mode it is an envelope on the open connection.
 * What the app acknowledges with is applied as Slack applies it: `response_action: errors` shows field
 * errors in the modal, `update` replaces it, `clear` closes the user's modals, an empty ack closes this one.
 */

export type AppEndpoint = { transport: 'http'; requestUrl: string; signingSecret: string } | { transport: 'socket' };

export interface Delivered {
  /** HTTP status of the app's answer (200 for a Socket Mode acknowledgement). */
  status: number;
  /** The acknowledgement body, when the app sent one. */
  body: JsonObject | undefined;
}

/** What a user enters in a modal, by block_id: the text typed, or the value of the option picked (with its label for external selects). */
export type Inputs = Record<string, string | { value: string; label: string } | undefined>;

export interface WorkspaceState {
  team(): { id: string; name: string; domain: string };
  bot(): { userId: string; botId: string; appId: string };
  now(): number;
  triggerId(user: string): string;
  view(id: string): FakeView | undefined;
  home(user: string): FakeView | undefined;
  imChannel(user: string): string;
  wire(view: FakeView): JsonObject;
  closeView(id: string): void;
  closeViewsOf(user: string): void;
  /** Replaces a modal's view with the one the app answered `update` with; returns Block Kit problems. */
  replaceView(id: string, view: JsonObject): string[];
  changed(): void;
  /** Block Kit problems with the options an app answers a block_suggestion with. */
  optionsProblems(options: unknown): string[];
  socketMode: FakeSocketMode;
}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const actionTs = (now: number) => (now / 1000).toFixed(6);

export class SlackAppDelivery {
  private endpoint: AppEndpoint | undefined;
  private events = 0;

  constructor(private readonly workspace: WorkspaceState) {}

  connect(endpoint: AppEndpoint): void {
    this.endpoint = endpoint;
  }

  /** The user opens the app's Home tab: an `app_home_opened` event (with the view last published, if any). */
  async openHome(user: string): Promise<Delivered> {
    const { workspace } = this;
    const home = workspace.home(user);
    const now = workspace.now();
    this.events += 1;
    const body = {
      token: 'deprecated-verification-token',
      team_id: workspace.team().id,
      api_app_id: workspace.bot().appId,
      event: {
        type: 'app_home_opened',
        user,
        channel: workspace.imChannel(user),
        tab: 'home',
        event_ts: actionTs(now),
        ...(home ? { view: workspace.wire(home) } : {}),
      },
      type: 'event_callback',
      event_id: `Ev${String(this.events).padStart(4, '0')}${randomBytes(4).toString('hex').toUpperCase()}`,
      event_time: Math.floor(now / 1000),
      authorizations: [{ enterprise_id: null, team_id: workspace.team().id, user_id: workspace.bot().userId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
    return this.deliver('events_api', body);
  }

  /** A global shortcut from the search bar or the + menu; carries a fresh trigger_id and no channel. */
  shortcut(user: string, callbackId: string): Promise<Delivered> {
    return this.deliver('interactive', {
      type: 'shortcut',
      token: 'deprecated-verification-token',
      action_ts: actionTs(this.workspace.now()),
      team: this.team(),
      user: this.user(user),
      is_enterprise_install: false,
      enterprise: null,
      callback_id: callbackId,
      trigger_id: this.workspace.triggerId(user),
    });
  }

  /**
   * The user types `query` into the external select `actionId` of a view (or opens it: an empty query). The
   * view's state carries what is entered so far (`inputs`). Resolves with the options the app answered.
   */
  async suggest(viewId: string, user: string, actionId: string, query = '', inputs: Inputs = {}): Promise<{ status: number; options: JsonObject[]; body: JsonObject | undefined }> {
    const view = this.viewOf(viewId);
    this.enter(view, inputs);
    const block = this.blockWith(view, actionId);
    const answer = await this.deliver('interactive', {
      type: 'block_suggestion',
      user: this.user(user),
      container: { type: 'view', view_id: view.id },
      api_app_id: this.workspace.bot().appId,
      token: 'deprecated-verification-token',
      action_id: actionId,
      block_id: block?.block_id ?? '',
      value: query,
      team: this.team(),
      enterprise: null,
      is_enterprise_install: false,
      view: this.workspace.wire(view),
    });
    const options = Array.isArray(answer.body?.options) ? answer.body.options.filter(isObject) : [];
    const problems = answer.body?.options === undefined ? [] : this.workspace.optionsProblems(answer.body.options);
    if (problems.length > 0) throw new Error(`the app answered block_suggestion with invalid options: ${problems.join('; ')}`);
    return { status: answer.status, options, body: answer.body };
  }

  /** A click on a button in a modal or the Home tab: block_actions with a view container, no channel. */
  click(viewId: string, user: string, actionId: string, value?: string): Promise<Delivered> {
    const view = this.viewOf(viewId);
    const block = this.blockWith(view, actionId, value);
    const element = block ? this.elementIn(block, actionId, value) : undefined;
    const text = isObject(element?.text) && typeof element.text.text === 'string' ? element.text.text : 'Button';
    return this.deliver('interactive', {
      type: 'block_actions',
      user: this.user(user),
      api_app_id: this.workspace.bot().appId,
      token: 'deprecated-verification-token',
      container: { type: 'view', view_id: view.id },
      trigger_id: this.workspace.triggerId(user),
      team: this.team(),
      enterprise: null,
      is_enterprise_install: false,
      view: this.workspace.wire(view),
      actions: [
        {
          type: typeof element?.type === 'string' ? element.type : 'button',
          action_id: actionId,
          block_id: block?.block_id ?? '',
          text: { type: 'plain_text', text, emoji: true },
          ...((value ?? element?.value) === undefined ? {} : { value: value ?? element?.value }),
          ...(typeof element?.style === 'string' ? { style: element.style } : {}),
          action_ts: actionTs(this.workspace.now()),
        },
      ],
    });
  }

  /** The user presses the modal's submit button with `inputs` entered; the app's answer is applied to the modal. */
  async submit(viewId: string, user: string, inputs: Inputs = {}): Promise<Delivered> {
    const view = this.viewOf(viewId);
    if (view.view.type !== 'modal') throw new Error(`view ${viewId} is not a modal`);
    this.enter(view, inputs);
    const answer = await this.deliver('interactive', {
      type: 'view_submission',
      team: this.team(),
      user: this.user(user),
      api_app_id: this.workspace.bot().appId,
      token: 'deprecated-verification-token',
      trigger_id: this.workspace.triggerId(user),
      view: { ...this.workspace.wire(view), app_installed_team_id: this.workspace.team().id },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    });
    this.apply(view, user, answer);
    return answer;
  }

  private apply(view: FakeView, user: string, answer: Delivered): void {
    if (answer.status !== 200) return; // Slack shows "We had some trouble connecting" and keeps the modal.
    const action = answer.body?.response_action;
    if (action === 'errors' && isObject(answer.body?.errors)) {
      view.errors = Object.fromEntries(Object.entries(answer.body.errors).map(([block, message]) => [block, String(message)]));
      this.workspace.changed();
    } else if (action === 'update' && isObject(answer.body?.view)) {
      const problems = this.workspace.replaceView(view.id, answer.body.view);
      if (problems.length > 0) throw new Error(`the app answered response_action update with an invalid view: ${problems.join('; ')}`);
    } else if (action === 'clear') {
      this.workspace.closeViewsOf(user);
    } else {
      this.workspace.closeView(view.id);
    }
  }

  /** Sets `view.state.values` from what the user entered, shaped per element type as Slack sends it. */
  private enter(view: FakeView, inputs: Inputs): void {
    for (const [blockId, entered] of Object.entries(inputs)) {
      const block = (Array.isArray(view.view.blocks) ? view.view.blocks : []).find((candidate): candidate is JsonObject => isObject(candidate) && candidate.block_id === blockId);
      const element = isObject(block?.element) ? block.element : undefined;
      if (!element || typeof element.action_id !== 'string' || typeof element.type !== 'string') throw new Error(`view ${view.id} has no input block ${blockId}`);
      const value = typeof entered === 'object' ? entered.value : entered;
      let state: JsonObject;
      if (element.type === 'static_select' || element.type === 'external_select') {
        const listed = Array.isArray(element.options) ? element.options.filter(isObject).find((option) => option.value === value) : undefined;
        if (element.type === 'static_select' && value !== undefined && !listed) throw new Error(`${blockId} offers no option ${value}`);
        const label = typeof entered === 'object' ? entered.label : isObject(listed?.text) ? String(listed.text.text) : value;
        state = { type: element.type, selected_option: value === undefined ? null : { text: { type: 'plain_text', text: label, emoji: true }, value } };
      } else {
        state = { type: element.type, value: value ?? null };
      }
      view.values[blockId] = { [element.action_id]: state };
    }
  }

  private viewOf(id: string): FakeView {
    const view = this.workspace.view(id);
    if (!view) throw new Error(`no open view ${id}`);
    return view;
  }

  private blockWith(view: FakeView, actionId: string, value?: string): JsonObject | undefined {
    return (Array.isArray(view.view.blocks) ? view.view.blocks : []).filter(isObject).find((block) => this.elementIn(block, actionId, value) !== undefined);
  }

  private elementIn(block: JsonObject, actionId: string, value?: string): JsonObject | undefined {
    const listed: unknown[] = Array.isArray(block.elements) ? (block.elements as unknown[]) : [];
    const elements = [...listed, block.accessory, block.element].filter(isObject);
    return elements.find((element) => element.action_id === actionId && (value === undefined || element.value === undefined || element.value === value));
  }

  private team(): JsonObject {
    const team = this.workspace.team();
    return { id: team.id, domain: team.domain };
  }

  private user(id: string): JsonObject {
    const name = id.toLowerCase();
    return { id, username: name, name, team_id: this.workspace.team().id };
  }

  private async deliver(kind: 'interactive' | 'events_api', payload: JsonObject): Promise<Delivered> {
    const endpoint = this.endpoint;
    if (!endpoint) throw new Error('connectApp() first: the fake does not know where the app listens');
    if (endpoint.transport === 'socket') {
      const ack = await this.workspace.socketMode.deliver(kind, payload);
      return { status: 200, body: ack.payload };
    }
    const body = kind === 'events_api' ? JSON.stringify(payload) : encodeInteractionPayload(payload);
    const answer = await postSigned(endpoint.requestUrl, endpoint.signingSecret, body, kind === 'events_api' ? { contentType: 'application/json' } : {});
    return { status: answer.status, body: isObject(answer.json) ? answer.json : undefined };
  }
}
