import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunningBot } from '../../src/app.js';
import type { FakeMessage } from '../fakes/fake-slack-api.js';
import { baseConfigFile, eventually, SIGNING_SECRET } from '../helpers/bot-harness.js';
import { blockActionsBody, postSigned } from '../helpers/slack-request.js';
import { recordReliability } from './reliability.js';
import { startFaultStack, type FaultStack } from './stack.js';

/** Names as people see them: Mallory has renamed herself to look exactly like approver U0LEAD1. */
const LEAD1_LOOK = { name: 'lead.one', realName: 'Lee Lead' };
const USERS = {
  U0LEAD1: LEAD1_LOOK,
  U0LEAD2: { name: 'lead.two', realName: 'Lou Lead' },
  U0LEAD3: { name: 'lead.three', realName: 'Lin Lead' },
  U0DS1: { name: 'data.scientist', realName: 'Dana Science' },
  U0MALLORY: LEAD1_LOOK,
  U0OUT1: { name: 'outsider.one', realName: 'Out One' },
  U0OUT2: { name: 'U0LEAD2', realName: 'U0LEAD2' },
  U0OUT3: { name: 'S0LEADS', realName: '<!subteam^S0LEADS>' },
};
const NON_APPROVERS = ['U0MALLORY', 'U0OUT1', 'U0OUT2', 'U0OUT3', 'U0DS1'];

/**
 * Approval abuse against two replicas of the real bot on one Redis and the fake MLflow: each abusive click
 * is refused and the alias is written exactly as many times as real approvals complete (MLflow's request
 * log is the count).
 */
describe('approval abuse', () => {
  let stack: FaultStack;
  let clock = Date.now();

  const aliasWrites = () => stack.mlflow.requests().filter((request) => request.method === 'POST' && request.path.endsWith('/registered-models/alias')).length;
  /** A click from `userId`; `userName` is what the payload calls them (Slack puts their current handle there). */
  const click = (message: FakeMessage, actionId: string, userId: string, target: RunningBot = stack.bot) =>
    postSigned(`${target.url}/slack/events`, SIGNING_SECRET, blockActionsBody({ actionId, userId, userName: USERS[userId as keyof typeof USERS]?.name ?? 'someone', channelId: message.channel, message }), { timestampSeconds: Math.floor(clock / 1000) });
  const ephemeralsFor = (user: string, text: string) => stack.slack.ephemerals().filter((message) => message.user === user && message.text.includes(text)).length;
  let versions = 0;
  const request = async (requester = 'U0DS1') => {
    const version = stack.mlflow.addVersion('fraud-model', { runId: stack.mlflow.addRun({ auc: 0.9 + (++versions % 9) / 100 }) });
    const reply = await stack.command(`promote fraud-model ${version}`, requester, { channelId: 'C0MODELS', timestampSeconds: Math.floor(clock / 1000) });
    expect(reply.status).toBe(200);
    expect(String((await stack.hooks.waitFor(reply.responseUrl, 15_000)).text)).toContain('Approval request');
    const message = await stack.slack.waitFor(() => stack.slack.messages('C0MODELS').filter((candidate) => candidate.text.includes(`fraud-model v${version}`)).at(-1), 15_000, `approval message for v${version}`);
    return { version, message };
  };
  /** Clicks from several users on both replicas at once; every click is answered 200 (Slack shows nothing else). */
  const clickAll = async (message: FakeMessage, users: readonly string[], actionId = 'approval.approve') => {
    const responses = await Promise.all(users.map((user, index) => click(message, actionId, user, stack.bots[index % stack.bots.length])));
    expect(responses.map((response) => response.status)).toEqual(users.map(() => 200));
  };

  beforeAll(async () => {
    stack = await startFaultStack({
      replicas: 2,
      clock: () => clock,
      slack: { usergroups: { S0LEADS: ['U0LEAD3'], S0DS: ['U0DS1', 'U0LEAD1'], S0SRE: ['U0SRE1'], S0ONCALL: ['U0ONCALL'] }, users: USERS },
      file: baseConfigFile({
        routes: [{ match: { kind: 'model' }, channel: 'C0MODELS' }],
        roles: { trainers: ['S0DS'], approvers: ['U0LEAD1', 'U0LEAD2', 'S0LEADS'], deployers: ['S0SRE'] },
        approvals: { required: 2, allowSelfApproval: false, ttl: '1h' },
        models: { 'fraud-model': { alias: 'champion' } },
      }),
    });
    stack.mlflow.setAliasDirectly('fraud-model', 'champion', stack.mlflow.addVersion('fraud-model', { runId: stack.mlflow.addRun({ auc: 0.8 }) }));
  });

  afterAll(async () => {
    await stack.stop();
  });

  test('self-approval, non-approvers (one renamed to an approver\'s name and real name) and double clicks never move the alias early; the deciding click writes it once', async (ctx) => {
    const rounds = 3;
    let abusive = 0;
    let concurrentDeciding = 0;
    const writesBefore = aliasWrites();
    for (let round = 0; round < rounds; round++) {
      const { version, message } = await request('U0LEAD1');
      const selfBefore = ephemeralsFor('U0LEAD1', 'someone else has to approve');
      const refusedBefore = NON_APPROVERS.map((user) => ephemeralsFor(user, 'approvers'));
      // The requester clicks Approve four times (across both replicas); five non-approvers click at the same moment.
      await clickAll(message, ['U0LEAD1', 'U0LEAD1', 'U0LEAD1', 'U0LEAD1', ...NON_APPROVERS]);
      abusive += 4 + NON_APPROVERS.length;
      await stack.slack.waitFor(() => ephemeralsFor('U0LEAD1', 'someone else has to approve') - selfBefore === 4, 15_000, 'four self-approval refusals');
      await stack.slack.waitFor(() => NON_APPROVERS.every((user, index) => ephemeralsFor(user, 'approvers') - (refusedBefore[index] ?? 0) === 1), 15_000, 'one refusal per non-approver');
      expect(aliasWrites()).toBe(writesBefore + round);
      // The first real approver double-clicks six times across both replicas: one approval counts.
      const recordedBefore = ephemeralsFor('U0LEAD2', 'Approval recorded (1/2)');
      const countedBefore = ephemeralsFor('U0LEAD2', 'already counted');
      await clickAll(message, Array.from({ length: 6 }, () => 'U0LEAD2'));
      abusive += 5;
      await stack.slack.waitFor(() => ephemeralsFor('U0LEAD2', 'Approval recorded (1/2)') - recordedBefore === 1 && ephemeralsFor('U0LEAD2', 'already counted') - countedBefore === 5, 15_000, 'one recorded, five already counted');
      expect(aliasWrites()).toBe(writesBefore + round);
      // The deciding approver (member of S0LEADS) clicks six times at once on two replicas: one promotion.
      await clickAll(message, Array.from({ length: 6 }, () => 'U0LEAD3'));
      concurrentDeciding += 6;
      await eventually(() => stack.mlflow.alias('fraud-model', 'champion') === version, 20_000, `alias at v${version}`);
      await stack.slack.waitFor(() => stack.slack.message(message.channel, message.ts)?.text.includes('Promoted'), 20_000, 'promoted message');
    }
    const writes = aliasWrites() - writesBefore;
    expect(writes).toBe(rounds);
    recordReliability(ctx, {
      area: 'Approvals',
      fault: 'self-approval x4, 5 non-approvers (one renamed to an approver\'s name and real name, one named after an approver ID, one after the approvers group), 6 concurrent double clicks, 6 concurrent deciding clicks on 2 replicas',
      cases: abusive + concurrentDeciding,
      outcome: `${abusive} abusive clicks refused or counted once; alias writes ${writes} for ${rounds} completed approvals (${concurrentDeciding} deciding clicks)`,
    });
  });

  test('approving after expiry or after being superseded is refused and writes nothing', async (ctx) => {
    const writesBefore = aliasWrites();
    const championBefore = stack.mlflow.alias('fraud-model', 'champion');
    // Superseded: three requests in a row; the first two can no longer be approved by anyone.
    const first = await request();
    const second = await request();
    const third = await request();
    for (const older of [first, second]) await stack.slack.waitFor(() => stack.slack.message(older.message.channel, older.message.ts)?.text.includes('Superseded'), 15_000, 'older superseded');
    const supersededBefore = ephemeralsFor('U0LEAD2', 'replaced this one') + ephemeralsFor('U0LEAD3', 'replaced this one');
    for (const older of [first, second]) await clickAll(older.message, ['U0LEAD2', 'U0LEAD3', 'U0LEAD2', 'U0LEAD3']);
    await stack.slack.waitFor(() => ephemeralsFor('U0LEAD2', 'replaced this one') + ephemeralsFor('U0LEAD3', 'replaced this one') - supersededBefore === 8, 15_000, 'eight superseded answers');
    // Expired: the bots' clock moves past the one hour TTL; both approvers click on both replicas.
    clock += 2 * 3600_000;
    const expiredBefore = ephemeralsFor('U0LEAD2', 'expired') + ephemeralsFor('U0LEAD3', 'expired');
    await clickAll(third.message, ['U0LEAD2', 'U0LEAD3', 'U0LEAD2', 'U0LEAD3']);
    await stack.slack.waitFor(() => ephemeralsFor('U0LEAD2', 'expired') + ephemeralsFor('U0LEAD3', 'expired') - expiredBefore === 4, 15_000, 'four expired answers');
    await stack.slack.waitFor(() => stack.slack.message(third.message.channel, third.message.ts)?.text.includes('Expired'), 15_000, 'expired shown');
    expect(aliasWrites()).toBe(writesBefore);
    expect(stack.mlflow.alias('fraud-model', 'champion')).toBe(championBefore);
    clock = Date.now();
    recordReliability(ctx, { area: 'Approvals', fault: 'approver clicks on 2 superseded requests and on a request past its TTL (2 replicas)', cases: 12, outcome: `8 answered "replaced", 4 answered "expired"; alias writes ${aliasWrites() - writesBefore}; champion unchanged` });
  });
});
