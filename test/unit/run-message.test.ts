import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseOciNotification, type ResourceEvent } from '../../src/domain/oci-notification.js';
import { applyRunUpdate, type Run } from '../../src/domain/run.js';
import { RUN_STATES, type RunState } from '../../src/domain/run-state.js';
import type { Block, ButtonElement, SlackMessage, TextObject } from '../../src/slack/blocks.js';
import { consoleLabel, renderFailureAlert, renderRunMessage, renderTransitions, RUN_ACTIONS, runButtonValue, stateLabel } from '../../src/slack/run-message.js';
import { anyText } from '../helpers/arbitraries.js';
import { ociFixture } from '../helpers/oci-fixtures.js';

const NOW = new Date('2025-03-04T10:00:00.000Z');
const JOB_RUN = 'ocid1.datasciencejobrun.oc1.iad.amaaaaaa4mlops7jobrun2xq3example5h7abcde';
const CONSOLE_URL = `https://cloud.oracle.com/data-science/job-runs/${JOB_RUN}?region=us-ashburn-1`;

function makeRun(overrides: Partial<Run> = {}): Run {
  return {
    key: `jobRun:${JOB_RUN}`,
    resourceId: JOB_RUN,
    subject: 'jobRun',
    kind: 'training',
    name: 'fraud-model-train-2025-03-04',
    compartmentName: 'mlops',
    state: 'IN_PROGRESS',
    stateAt: '2025-03-04T09:01:00.000Z',
    startedAt: '2025-03-04T09:01:00.000Z',
    details: { consoleUrl: CONSOLE_URL },
    history: [
      { state: 'ACCEPTED', at: '2025-03-04T09:00:00.000Z' },
      { state: 'IN_PROGRESS', at: '2025-03-04T09:01:00.000Z' },
    ],
    version: 2,
    ...overrides,
  };
}

function blocksOf(message: SlackMessage, type: Block['type']): Block[] {
  return message.blocks.filter((block) => block.type === type);
}

function buttonsOf(message: SlackMessage): ButtonElement[] {
  return message.blocks.flatMap((block) => (block.type === 'actions' ? block.elements : []));
}

function fieldsOf(message: SlackMessage): TextObject[] {
  return message.blocks.flatMap((block) => (block.type === 'section' ? (block.fields ?? []) : []));
}

function headerOf(message: SlackMessage): string {
  const header = message.blocks.find((block) => block.type === 'header');
  if (header?.type !== 'header') throw new Error('no header block');
  return header.text.text;
}

/** Every piece of text Slack parses as mrkdwn: the fallback text, mrkdwn objects and confirm dialogs. */
function mrkdwnOf(message: SlackMessage): string[] {
  const texts = [message.text];
  const add = (object: TextObject | undefined) => {
    if (object?.type === 'mrkdwn') texts.push(object.text);
  };
  for (const block of message.blocks) {
    if (block.type === 'section') {
      add(block.text);
      block.fields?.forEach(add);
    } else if (block.type === 'context') {
      block.elements.forEach(add);
    } else if (block.type === 'actions') {
      for (const button of block.elements) add(button.confirm?.text);
    }
  }
  return texts;
}

/** Checks the Block Kit limits of reference/slack.md §5. */
function expectWithinSlackLimits(message: SlackMessage): void {
  expect(message.blocks.length).toBeLessThanOrEqual(50);
  for (const block of message.blocks) {
    if (block.type === 'header') expect(block.text.text.length).toBeLessThanOrEqual(150);
    if (block.type === 'section') {
      expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      expect(block.fields?.length ?? 0).toBeLessThanOrEqual(10);
      for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
    }
    if (block.type === 'context') expect(block.elements.length).toBeLessThanOrEqual(10);
    if (block.type === 'actions') {
      expect(block.elements.length).toBeLessThanOrEqual(25);
      for (const button of block.elements) {
        expect(button.text.text.length).toBeLessThanOrEqual(75);
        expect(button.value?.length ?? 0).toBeLessThanOrEqual(2000);
        expect(button.url?.length ?? 0).toBeLessThanOrEqual(3000);
        if (button.confirm) {
          expect(button.confirm.title.text.length).toBeLessThanOrEqual(100);
          expect(button.confirm.text.text.length).toBeLessThanOrEqual(300);
          expect(button.confirm.confirm.text.length).toBeLessThanOrEqual(30);
          expect(button.confirm.deny.text.length).toBeLessThanOrEqual(30);
        }
      }
    }
  }
}

/**
 * What is left once the renderer's own tokens (dates, the allowed mentions) are removed must hold no `<`:
 * every Slack mention, broadcast and link starts with one. (A bare `>` is the renderer's block quote.)
 */
function expectNoSlackSyntaxFromInput(message: SlackMessage, allowedMentions: readonly string[] = []): void {
  for (const text of mrkdwnOf(message)) {
    let rest = text.replace(/<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[^<>|]*>/g, '');
    for (const allowed of allowedMentions) rest = rest.split(allowed).join('');
    expect(rest).not.toContain('<');
    expect(rest).not.toMatch(/@(channel|here|everyone)\b/i);
  }
}

describe('renderRunMessage', () => {
  it('shows a running training job: header, state, duration so far, compartment, console button', () => {
    const message = renderRunMessage(makeRun(), NOW);
    expect(headerOf(message)).toBe('Training job run: fraud-model-train-2025-03-04');
    expect(message.text).toBe(':arrows_counterclockwise: Training job run fraud-model-train-2025-03-04 in progress');
    expect(fieldsOf(message).map((field) => field.text)).toEqual([
      '*State*\n:arrows_counterclockwise: in progress',
      '*Duration*\n59m 0s so far',
      '*Compartment*\nmlops',
    ]);
    expect(buttonsOf(message)).toEqual([{ type: 'button', action_id: RUN_ACTIONS.openConsole, text: expect.objectContaining({ text: 'Open in console' }) as unknown, url: CONSOLE_URL }]);
    const [context] = blocksOf(message, 'context');
    expect(context?.type === 'context' && context.elements[0]?.text).toContain(`\`${JOB_RUN}\` · updated <!date^`);
    expectWithinSlackLimits(message);
  });

  it('says how long a finished run took', () => {
    const run = makeRun({ state: 'SUCCEEDED', stateAt: '2025-03-04T09:41:17.000Z', finishedAt: '2025-03-04T09:41:17.000Z' });
    const message = renderRunMessage(run, NOW);
    expect(message.text).toBe(':white_check_mark: Training job run fraud-model-train-2025-03-04 succeeded in 40m 17s');
    expect(fieldsOf(message)[1]?.text).toBe('*Duration*\n40m 17s');
    expect(buttonsOf(message).map((button) => button.action_id)).toEqual([RUN_ACTIONS.openConsole]);
  });

  it('shows who started it, the target and its arguments as code', () => {
    const run = makeRun({ startedBy: 'U0ALICE', target: 'fraud-model', arguments: { epochs: '10', note: 'new features' }, details: { pipelineName: 'train-pipeline' } });
    const fields = fieldsOf(renderRunMessage(run, NOW)).map((field) => field.text);
    expect(fields).toContain('*Pipeline*\ntrain-pipeline');
    expect(fields).toContain('*Target*\n`fraud-model`');
    expect(fields).toContain('*Started by*\n<@U0ALICE>');
    expect(fields).toContain('*Arguments*\n`epochs=10` `note=new features`');
  });

  it('quotes lifecycle details under the fields', () => {
    const run = makeRun({ state: 'FAILED', details: { lifecycleDetails: 'line one\nline <two>' } });
    const sections = blocksOf(renderRunMessage(run, NOW), 'section');
    expect(sections[1]?.type === 'section' && sections[1].text?.text).toBe('>line one\n>line &lt;two&gt;');
  });

  it('offers Retry on a failed training run and a failed build, with only the run key as value', () => {
    for (const run of [
      makeRun({ state: 'FAILED' }),
      makeRun({ state: 'TIMED_OUT' }),
      makeRun({ kind: 'build', subject: 'buildRun', state: 'FAILED', key: 'buildRun:ocid1.devopsbuildrun.oc1.iad.x' }),
    ]) {
      const buttons = buttonsOf(renderRunMessage(run, NOW));
      const retry = buttons.find((button) => button.action_id === RUN_ACTIONS.retry);
      expect(retry).toMatchObject({ style: 'primary', value: JSON.stringify({ run: run.key }) });
      expect(buttons.some((button) => button.action_id === RUN_ACTIONS.rollback)).toBe(false);
    }
  });

  it('offers Roll back, with a confirm dialog, on a failed deploy', () => {
    const run = makeRun({ kind: 'deploy', subject: 'deployment', state: 'FAILED', name: 'fraud-model-deploy-7', details: { model: 'fraud-model' } });
    const buttons = buttonsOf(renderRunMessage(run, NOW));
    expect(buttons.map((button) => button.action_id)).toEqual([RUN_ACTIONS.rollback]);
    expect(buttons[0]).toMatchObject({ style: 'danger', value: runButtonValue(run) });
    expect(buttons[0]?.confirm?.text.text).toBe('Roll back fraud-model to its previous revision?');
  });

  it('offers Roll back on a firing alarm that names a model, and nothing on other alarms', () => {
    const alarm = makeRun({ kind: 'alarm', subject: 'alarm', state: 'FIRING', details: { model: 'fraud-model', severity: 'CRITICAL', metrics: '4' } });
    const message = renderRunMessage(alarm, NOW);
    expect(buttonsOf(message).map((button) => button.action_id)).toEqual([RUN_ACTIONS.rollback]);
    expect(fieldsOf(message).map((field) => field.text)).toEqual(['*State*\n:rotating_light: firing', '*Severity*\nCRITICAL', '*Metrics firing*\n4', '*Compartment*\nmlops']);
    expect(buttonsOf(renderRunMessage(makeRun({ kind: 'alarm', subject: 'alarm', state: 'FIRING', details: {} }), NOW))).toEqual([]);
  });

  it('offers no action on success or while running, and none on a plain cancel', () => {
    for (const state of ['QUEUED', 'ACCEPTED', 'IN_PROGRESS', 'SUCCEEDED', 'CANCELED', 'RESOLVED', 'DELETED'] as const) {
      const buttons = buttonsOf(renderRunMessage(makeRun({ state, details: {} }), NOW));
      expect(buttons).toEqual([]);
    }
  });

  it('offers Retry on a cancel that came with lifecycle details', () => {
    const buttons = buttonsOf(renderRunMessage(makeRun({ state: 'CANCELED', details: { lifecycleDetails: 'Canceled by the service: quota exceeded' } }), NOW));
    expect(buttons.map((button) => button.action_id)).toEqual([RUN_ACTIONS.retry]);
  });

  it('never links a console URL that is not https', () => {
    const buttons = buttonsOf(renderRunMessage(makeRun({ details: { consoleUrl: 'javascript:alert(1)' } }), NOW));
    expect(buttons).toEqual([]);
  });

  it('changes the actions block id with the version, as Slack asks of updated messages', () => {
    const failed = makeRun({ state: 'FAILED', version: 7 });
    expect(blocksOf(renderRunMessage(failed, NOW), 'actions')[0]?.block_id).toBe('run-actions-7');
  });

  it('keeps a huge run within Slack’s limits', () => {
    const huge = '&'.repeat(2_000);
    const run = makeRun({
      state: 'FAILED',
      name: 'n'.repeat(1_000),
      compartmentName: huge,
      key: `jobRun:${'k'.repeat(5_000)}`,
      startedBy: 'U0ALICE',
      target: huge,
      arguments: Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`key${index}`, '<'.repeat(1_000)])),
      details: { pipelineName: huge, lifecycleDetails: '<'.repeat(10_000), consoleUrl: `${CONSOLE_URL}&x=${'y'.repeat(5_000)}`, severity: huge, metrics: huge },
    });
    const message = renderRunMessage(run, NOW);
    expectWithinSlackLimits(message);
    expect(headerOf(message)).toHaveLength(150);
    expectWithinSlackLimits(renderFailureAlert(run, 'S0ONCALL', NOW));
    expectWithinSlackLimits(renderRunMessage({ ...run, kind: 'alarm', subject: 'alarm', state: 'FIRING' }, NOW));
  });

  it('renders every state with its own label', () => {
    const labels = RUN_STATES.map((state) => stateLabel(state));
    expect(new Set(labels).size).toBe(RUN_STATES.length);
    for (const state of RUN_STATES) expectWithinSlackLimits(renderRunMessage(makeRun({ state }), NOW));
  });
});

describe('rendering hostile names', () => {
  const HOSTILE = ['<!channel> deploy now', 'ping <@U123> and <!subteam^S0SRE> @here', '<https://evil.example|click> & win', '@everyone <!everyone>'];

  function hostileRun(text: string, state: RunState = 'FAILED'): Run {
    return makeRun({
      state,
      name: text,
      compartmentName: text,
      target: text,
      startedBy: 'U0ALICE',
      arguments: { note: text },
      details: { lifecycleDetails: text, pipelineName: text, model: text, severity: text, metrics: text, summary: text },
      history: [{ state, at: '2025-03-04T09:00:00.000Z', note: text }],
    });
  }

  it.each(HOSTILE)('never lets %j ping anyone or forge a link', (text) => {
    for (const run of [hostileRun(text), hostileRun(text, 'IN_PROGRESS'), { ...hostileRun(text, 'FIRING'), kind: 'alarm' as const, subject: 'alarm' as const }]) {
      const views = [renderRunMessage(run, NOW), renderFailureAlert(run, 'S0ONCALL', NOW)];
      for (const view of views) expectNoSlackSyntaxFromInput(view, ['<@U0ALICE>', '<!subteam^S0ONCALL>']);
      const transitions = renderTransitions(run, run.history);
      expect(transitions.replace(/<!date\^[^>]*>/g, '')).not.toContain('<');
      // plain_text (the header) is never parsed for mentions, so it shows the name exactly as written.
      expect(headerOf(views[0] as SlackMessage)).toContain(text.slice(0, 20));
      expect(views.flatMap(mrkdwnOf).join('\n')).not.toContain('<@U123>');
    }
  });

  it('escapes names that arrived in real hostile event fixtures', () => {
    for (const fixture of ['hostile/event-name-channel-mention.json', 'hostile/event-name-user-mention.json', 'hostile/event-name-link.json']) {
      const parsed = parseOciNotification(ociFixture(fixture), { contentType: 'application/json' });
      if (!parsed.ok || parsed.notification.type !== 'event') throw new Error(`${fixture} did not parse as an event`);
      const event: ResourceEvent = parsed.notification;
      const { run } = applyRunUpdate(undefined, {
        key: `${event.subject}:${event.resourceId}`,
        resourceId: event.resourceId,
        subject: event.subject,
        kind: event.kind,
        at: event.eventTime,
        ...(event.state ? { state: event.state } : {}),
        ...(event.resourceName ? { name: event.resourceName } : {}),
        ...(event.compartmentName ? { compartmentName: event.compartmentName } : {}),
        details: event.details,
      });
      const message = renderRunMessage(run, NOW);
      const alert = renderFailureAlert(run, 'U0ONCALL', NOW);
      expectNoSlackSyntaxFromInput(message);
      expectNoSlackSyntaxFromInput(alert, ['<@U0ONCALL>']);
      expect(message.text).not.toContain('<!channel>');
      expect(alert.text.startsWith('<@U0ONCALL> ')).toBe(true);
    }
  });

  it('keeps arbitrary text in every field from producing Slack syntax, within the limits', () => {
    const text = anyText(120);
    fc.assert(
      fc.property(
        fc.record({ name: text, compartmentName: text, target: text, note: text, detail: text, model: text }),
        fc.constantFrom(...RUN_STATES),
        fc.constantFrom('training', 'build', 'deploy', 'alarm' as const),
        (input, state, kind) => {
          const run = makeRun({
            state,
            kind,
            name: input.name,
            compartmentName: input.compartmentName,
            target: input.target,
            startedBy: 'U0ALICE',
            arguments: { note: input.note },
            details: { lifecycleDetails: input.detail, model: input.model, pipelineName: input.detail },
            history: [{ state, at: '2025-03-04T09:00:00.000Z', note: input.note }],
          });
          for (const view of [renderRunMessage(run, NOW), renderFailureAlert(run, 'S0ONCALL', NOW)]) {
            expectWithinSlackLimits(view);
            expectNoSlackSyntaxFromInput(view, ['<@U0ALICE>', '<!subteam^S0ONCALL>']);
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe('renderFailureAlert', () => {
  it('mentions on-call, says what failed and offers the same actions', () => {
    const run = makeRun({ state: 'FAILED', stateAt: '2025-03-04T09:12:40.000Z', finishedAt: '2025-03-04T09:12:40.000Z', details: { lifecycleDetails: 'exit code 1', consoleUrl: CONSOLE_URL } });
    const alert = renderFailureAlert(run, 'S0ONCALL', NOW);
    expect(alert.text).toBe('<!subteam^S0ONCALL> :x: Training job run fraud-model-train-2025-03-04 failed in 11m 40s\n>exit code 1');
    expect(buttonsOf(alert).map((button) => button.action_id)).toEqual([RUN_ACTIONS.openConsole, RUN_ACTIONS.retry]);
    expect(blocksOf(alert, 'actions')[0]?.block_id).toBe(`alert-actions-${run.version}`);
  });

  it('tells the states before the failure that the thread has not told yet, on one line under the alert', () => {
    const run = makeRun({ state: 'FAILED', details: {} });
    const earlier = [
      { state: 'ACCEPTED' as const, at: '2025-03-04T09:01:00.000Z' },
      { state: 'IN_PROGRESS' as const, at: '2025-03-04T09:02:00.000Z', note: 'epoch 1 of 3' },
    ];
    const context = blocksOf(renderFailureAlert(run, 'S0ONCALL', NOW, earlier), 'context');
    expect(context).toHaveLength(1);
    const line = JSON.stringify(context[0]);
    expect(line).toContain('Before: ');
    expect(line).toContain(' → ');
    expect(line).toContain('epoch 1 of 3');
    expect(blocksOf(renderFailureAlert(run, 'S0ONCALL', NOW), 'context')).toHaveLength(0);
    const long = { state: 'IN_PROGRESS' as const, at: '2025-03-04T09:02:00.000Z', note: 'x'.repeat(300) };
    expectWithinSlackLimits(renderFailureAlert(run, 'S0ONCALL', NOW, Array.from({ length: 40 }, () => long)));
  });

  it('mentions nobody when on-call is unset or not a Slack ID', () => {
    const run = makeRun({ state: 'TIMED_OUT', details: {} });
    expect(renderFailureAlert(run, undefined, NOW).text.startsWith(':alarm_clock: ')).toBe(true);
    expect(renderFailureAlert(run, '@oncall', NOW).text.startsWith(':alarm_clock: ')).toBe(true);
  });
});

describe('renderTransitions', () => {
  it('lists each state change with its time and escaped note', () => {
    const run = makeRun();
    const text = renderTransitions(run, [
      { state: 'IN_PROGRESS', at: '2025-03-04T09:01:00.000Z' },
      { state: 'FAILED', at: '2025-03-04T09:12:40.000Z', note: 'exit <1>' },
    ]);
    expect(text.split('\n')).toEqual([
      ':arrows_counterclockwise: in progress · <!date^1741078860^{date_short_pretty} {time_secs}|2025-03-04T09:01:00.000Z>',
      ':x: failed · <!date^1741079560^{date_short_pretty} {time_secs}|2025-03-04T09:12:40.000Z> exit &lt;1&gt;',
    ]);
  });

  it('stays under 3900 characters for a burst of transitions', () => {
    const transitions = Array.from({ length: 200 }, (_, index) => ({ state: 'NEEDS_ATTENTION' as const, at: new Date(NOW.getTime() + index * 1000).toISOString(), note: 'n'.repeat(300) }));
    expect(renderTransitions(makeRun(), transitions).length).toBeLessThanOrEqual(3900);
  });

  it('says nothing for no transitions', () => {
    expect(renderTransitions(makeRun(), [])).toBe('');
  });
});

describe('runButtonValue and consoleLabel', () => {
  it('carries only the run key, within 2000 characters', () => {
    expect(runButtonValue(makeRun())).toBe(JSON.stringify({ run: `jobRun:${JOB_RUN}` }));
    expect(runButtonValue(makeRun({ key: 'k'.repeat(3_000) })).length).toBeLessThanOrEqual(2000);
  });

  it('links the console only over https', () => {
    expect(consoleLabel(makeRun())).toBe(`<${CONSOLE_URL}|Open in console>`);
    expect(consoleLabel(makeRun({ details: { consoleUrl: 'http://cloud.oracle.com/x' } }))).toBe('Open in console');
    expect(consoleLabel(makeRun({ details: {} }))).toBe('Open in console');
  });
});
