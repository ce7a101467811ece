import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The demo as a visitor uses it: `npm run demo`'s process (its own redis-server, the built bot, the
 * stand-ins) and its console in Debian's chromium. Everything happens through the page: typing commands,
 * choosing users, clicking buttons and confirming dialogs; the assertions read what the page shows.
 */

const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url);
const STORY_MS = 60_000;
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the demo console walks the main story in a browser', () => {
  let demo: ChildProcess;
  let demoOutput = '';
  let demoExited: Promise<number | null>;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  let consoleUrl: string;

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-p', 'demo/tsconfig.json'], { stdio: 'ignore' });
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn' };
    demo = spawn(process.execPath, ['dist/demo/main.js'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
    demo.stderr?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
    demoExited = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
    consoleUrl = await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`the demo printed no console URL:\n${demoOutput}`)), 120_000);
      const look = () => {
        const url = /Console: (http:\/\/\S+)/.exec(demoOutput)?.[1];
        if (url) {
          clearTimeout(deadline);
          resolve(url);
        }
      };
      demo.stdout?.on('data', look);
      void demoExited.then((code) => reject(new Error(`the demo exited with ${String(code)}:\n${demoOutput}`)));
    });
    profile = mkdtempSync(join(tmpdir(), 'mlops-demo-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1280, height: 860 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STORY_MS);
    await page.goto(consoleUrl);
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (demo && demo.exitCode === null) {
      demo.kill('SIGINT');
      const code = await demoExited;
      // Ctrl-C stops the demo cleanly: it exits 0 once the bot, redis-server and the stand-ins are down.
      expect(code, demoOutput).toBe(0);
    }
  });

  const as = (user: string) => page.getByLabel('Sample user').selectOption(user);
  const openChannel = (name: string) => page.locator('#channels a', { hasText: `# ${name}` }).click();
  const type = async (command: string) => {
    await page.getByLabel('Message').fill(command);
    await page.getByLabel('Message').press('Enter');
  };
  const message = (text: string | RegExp): Locator => page.locator('#messages > .message').filter({ hasText: text }).last();
  const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: STORY_MS, interval: 100 });
  const shot = (name: string) => page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname });

  it('trains, promotes with an approval, and rolls a failed deployment back', async () => {
    await poll(() => page.locator('#channel-title').textContent()).toBe('# ml-training');

    // Train as the data scientist: the run's one message moves to succeeded, edited in place.
    await as('U0DANA');
    await type('/mlops train fraud-model epochs=5');
    await page.locator('.ephemeral', { hasText: 'queued training' }).waitFor();
    const run = message('Training job run: fraud-model-');
    await run.filter({ hasText: 'succeeded' }).waitFor();
    await poll(() => run.locator('.edited').count()).toBeGreaterThan(0);
    // The thread narrates each state the message moved through (accepted too, when the message first showed queued).
    await poll(() => run.locator('.thread').textContent()).toMatch(/in progress[\s\S]*succeeded/);
    await shot('1-training-run');

    // Request the promotion of version 2, then approve it as someone else.
    await openChannel('model-registry');
    await type('/mlops promote fraud-model 2');
    const approval = message('Promote fraud-model v2');
    await approval.getByRole('button', { name: 'Approve' }).waitFor();
    expect(await page.locator('#models [data-model="fraud-model"]').textContent()).toContain('champion: v1');
    await shot('2-promotion-request');
    await as('U0AVERY');
    await approval.getByRole('button', { name: 'Approve' }).click();
    await approval.filter({ hasText: 'Promoted' }).waitFor();
    await poll(() => page.locator('#models [data-model="fraud-model"]').textContent()).toContain('champion: v2');
    // The sample deploy pipeline runs a canary with 10% of the traffic, then waits for its approval:
    // the deployment's message in the thread lists the stages live and asks the approvers.
    const deployment = approval.locator('.thread > .message').filter({ hasText: 'Deployment: fraud-model-v2' });
    const approveCanary = deployment.getByRole('button', { name: 'Approve Canary approval' });
    await approveCanary.waitFor();
    expect(await deployment.textContent()).toMatch(/Deploy canary[\s\S]*canary traffic 10%[\s\S]*waiting for approval[\s\S]*The canary takes 10% of the traffic/);
    await as('U0BLAKE');
    await approveCanary.click();
    await poll(() => deployment.textContent()).toMatch(/approved in Slack by @blake/);
    await poll(() => approval.locator('.thread').textContent()).toMatch(/Deployment: fraud-model-v2[\s\S]*succeeded/);
    // The deploy pipeline rolled the new model out to the inference Deployment: a new revision.
    await poll(() => page.locator('#models [data-model="fraud-model"]').textContent()).toMatch(/revision 4: registry\.example\.com\/ml\/fraud-model:model-v2[\s\S]*3\/3 updated, 3 available/);
    await shot('3-promoted');

    // A deployment fails; the on-call engineer rolls back, confirming twice as Slack would ask.
    await as('U0CASEY');
    await page.getByRole('button', { name: 'Deployment failed' }).click();
    await openChannel('deployments');
    const failure = message(/Deployment fraud-model-deploy-\d+ failed/);
    // The alert's own button (its copy in the thread, where the on-call group is paged, has one too).
    await failure.locator(':scope > .block-actions').getByRole('button', { name: 'Roll back' }).click();
    await poll(() => page.locator('#confirm-title').textContent()).toBe('Roll back?');
    await page.locator('#confirm-ok').click();
    const confirmStep = page.locator('.ephemeral', { hasText: 'Roll back inference/fraud-model?' });
    await confirmStep.waitFor();
    expect(await confirmStep.textContent()).toMatch(/Now: revision 4: registry\.example\.com\/ml\/fraud-model:model-v2[\s\S]*After: revision 3: registry\.example\.com\/ml\/fraud-model:v3/);
    await shot('4-rollback-confirm');
    await confirmStep.getByRole('button', { name: 'Roll back' }).click();
    // As in Slack, the answer replaces the confirm step: its buttons cannot be pressed a second time.
    await page.locator('.ephemeral', { hasText: 'Rolling back inference/fraud-model to revision 3' }).waitFor();
    await poll(() => confirmStep.count()).toBe(0);
    const rollback = message('Rollback of inference/fraud-model to revision 3');
    await rollback.waitFor();
    await poll(() => rollback.locator('.thread').textContent()).toContain('Waiting for deployment "fraud-model" rollout to finish');
    await rollback.filter({ hasText: '\u2705' }).waitFor();
    await poll(() => page.locator('#models [data-model="fraud-model"]').textContent()).toMatch(/revision 5: registry\.example\.com\/ml\/fraud-model:v3[\s\S]*3\/3 updated, 3 available/);
    await shot('5-rolled-back');
  });

  it('fires OCI events and plays a pipeline run from the side bar, and refuses what is not a /mlops command', async () => {
    await as('U0CASEY');
    await openChannel('deployments');
    await page.getByRole('button', { name: 'Alarm firing' }).click();
    const alarm = message('Alarm fraud-model latency');
    await alarm.waitFor();
    await poll(() => alarm.locator('.thread').textContent()).toContain('@oncall');
    expect(await alarm.locator(':scope > .block-actions').getByRole('button', { name: 'Roll back' }).count()).toBe(1);

    await page.getByRole('button', { name: 'Training failed' }).click();
    await page.getByRole('button', { name: 'Play a pipeline run' }).click();
    await openChannel('ml-training');
    const failed = message(/Training job run: fraud-model-nightly-\d+/);
    await failed.filter({ hasText: 'Job run failed: exit code 137' }).waitFor();
    expect(await failed.locator(':scope > .block-actions').getByRole('button', { name: 'Retry' }).count()).toBe(1);
    await message(/Build run: churn-model-build-\d+/).filter({ hasText: 'succeeded' }).waitFor();
    await message(/Training job run: fraud-model-train-\d+/).filter({ hasText: 'succeeded' }).waitFor();
    await openChannel('deployments');
    await message(/Deployment: fraud-model-deploy-\d+/).filter({ hasText: 'succeeded' }).waitFor();
    await poll(() => page.locator('#activity').textContent()).toContain('Pipeline run finished');

    await type('deploy everything');
    await poll(() => page.locator('#composer-error').textContent()).toContain('only listens to /mlops commands');
    await shot('6-events-and-pipeline');
  });

  it('promotes churn-model along dev → qa → prod, each with its own approvers, deploying into each environment\'s cluster', async () => {
    const churn = page.locator('#models [data-model="churn-model"]');
    await as('U0DANA');
    await openChannel('model-registry');

    // dev needs no approval: promoted at once, still posted, and deployed into the dev cluster.
    await type('/mlops promote churn-model 2');
    await page.locator('.ephemeral', { hasText: 'no approval needed' }).waitFor();
    const dev = message('Promote churn-model v2 → dev');
    await dev.filter({ hasText: 'Promoted' }).waitFor();
    await poll(() => churn.locator('[data-environment="dev"]').textContent()).toBe('dev: v2');
    await poll(() => dev.locator('.thread').textContent()).toMatch(/Deployment: churn-model-v2-dev[\s\S]*succeeded/);
    await poll(() => churn.locator('[data-deployment="dev"]').textContent()).toMatch(/dev \(oke-dev\) revision 2: registry\.example\.com\/ml\/churn-model:model-v2[\s\S]*3\/3 updated, 3 available/);

    // qa: only its own approver may approve; a global approver is told so.
    await type('/mlops promote churn-model 2');
    const qa = message('Promote churn-model v2 → qa');
    await qa.getByRole('button', { name: 'Approve' }).waitFor();
    expect(await qa.textContent()).toMatch(/dev → ▶ qa → prod/);
    await as('U0AVERY');
    await qa.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.ephemeral', { hasText: 'Approving a promotion to qa needs the approvers role' }).waitFor();
    await as('U0BLAKE');
    await qa.getByRole('button', { name: 'Approve' }).click();
    await qa.filter({ hasText: 'Promoted' }).waitFor();
    await poll(() => churn.locator('[data-environment="qa"]').textContent()).toBe('qa: v2');

    // prod: two distinct approvers, then the prod deploy pipeline rolls it out in the prod cluster.
    await as('U0DANA');
    await type('/mlops promote churn-model 2');
    const prod = message('Promote churn-model v2 → prod');
    await prod.getByRole('button', { name: 'Approve' }).waitFor();
    await as('U0AVERY');
    await prod.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.ephemeral', { hasText: 'Approval recorded (1/2)' }).waitFor();
    await as('U0BLAKE');
    await prod.getByRole('button', { name: 'Approve' }).click();
    await prod.filter({ hasText: 'Promoted' }).waitFor();
    await poll(() => churn.locator('[data-environment="prod"]').textContent()).toBe('prod: v2');
    await poll(() => churn.locator('[data-deployment="prod"]').textContent()).toMatch(/prod \(oke-prod\) revision 3: registry\.example\.com\/ml\/churn-model:model-v2[\s\S]*3\/3 updated, 3 available/);
    // dev's cluster is untouched by the prod deployment.
    expect(await churn.locator('[data-deployment="dev"]').textContent()).toContain('revision 2');

    await type('/mlops status churn-model');
    const status = page.locator('.ephemeral', { hasText: 'Path: dev → qa → prod' });
    await status.waitFor();
    expect(await status.textContent()).toMatch(/dev[\s\S]*v2 since[\s\S]*context oke-dev[\s\S]*qa[\s\S]*v2 since[\s\S]*prod[\s\S]*v2 since[\s\S]*context oke-prod/);
    await shot('7-environments');
  });

  it('plays the retraining loop: accuracy alarm → Retrain → run → new version in the run’s thread → promotion request in the same thread', async () => {
    await as('U0DANA');
    await page.getByRole('button', { name: 'Accuracy alarm' }).click();
    await openChannel('deployments');
    const alarm = message('Alarm: fraud-model-accuracy-drop');
    await alarm.locator(':scope > .block-actions').getByRole('button', { name: 'Retrain fraud-model' }).click();
    await page.locator('.ephemeral', { hasText: 'Retraining fraud-model' }).waitFor();
    await poll(() => alarm.locator('.thread').textContent()).toContain('started a retrain of fraud-model');

    // The run says why it runs and links back to the alarm; the training script registers a version tagged with its run key.
    await openChannel('ml-training');
    const run = page.locator('#messages > .message').filter({ hasText: 'Retrain of' }).last();
    await run.filter({ hasText: 'fraud-model-accuracy-drop' }).waitFor();
    await run.filter({ hasText: 'succeeded' }).waitFor();
    const registered = run.locator('.thread .message').filter({ hasText: /Version \d+ of fraud-model registered in MLflow/ });
    await registered.waitFor();
    expect(await registered.textContent()).toMatch(/Metrics auc 0\.95/);
    await registered.getByRole('button', { name: /Request promotion/ }).click();
    const request = run.locator('.thread .message').filter({ hasText: /Promote fraud-model v\d+/ });
    await request.getByRole('button', { name: 'Approve' }).waitFor();
    await shot('8-retraining-loop');

    await openChannel('deployments');
    await poll(() => alarm.locator('.thread').textContent()).toMatch(/registered version \d+ of fraud-model/);
  });

  it('blocks a version that fails a quality gate until a gate overrider gives a reason, then approves it', async () => {
    await as('U0DANA');
    await openChannel('model-registry');
    await type('/mlops promote fraud-model 3');
    const request = message('Promote fraud-model v3');
    await request.filter({ hasText: 'Blocked by a failed quality gate' }).waitFor();
    expect(await request.textContent()).toMatch(/fail auc ≥ 0\.9: v3 has 0\.88, below the minimum/);
    expect(await request.getByRole('button', { name: 'Approve' }).count()).toBe(0);

    // An approver is no gate overrider.
    await as('U0AVERY');
    await request.getByRole('button', { name: 'Override gate' }).click();
    await page.locator('.ephemeral', { hasText: 'Overriding a quality gate needs the gateOverriders role' }).waitFor();

    // The overrider is asked for a reason in a modal; an empty one is refused next to the field.
    await as('U0BLAKE');
    await request.getByRole('button', { name: 'Override gate' }).click();
    const modal = page.locator('#modal');
    await poll(() => modal.isVisible()).toBe(true);
    expect(await modal.textContent()).toContain('auc ≥ 0.9 (v3 has 0.88: below the minimum)');
    await modal.getByRole('button', { name: 'Override' }).click();
    await poll(() => modal.locator('.field-error').first().textContent()).toContain('Say why the gate may be lifted');
    await page.getByLabel('Reason (shown on the request and in the audit log)').fill('Recall matters more this quarter; auc was measured on the old holdout');
    await modal.getByRole('button', { name: 'Override' }).click();
    await poll(() => modal.isVisible()).toBe(false);
    await request.filter({ hasText: 'Gate overridden by @blake: Recall matters more this quarter' }).waitFor();
    await shot('8-gate-override');

    // Then approvals proceed as usual.
    await as('U0AVERY');
    await request.getByRole('button', { name: 'Approve' }).click();
    await request.filter({ hasText: 'Promoted' }).waitFor();
    await poll(() => page.locator('#models [data-model="fraud-model"]').textContent()).toContain('champion: v3');
  });

  it('opens the Home as an approver and approves from there, and trains through the modal with its field errors', async () => {
    // Dana asks for fraud-model v1 to take @champion back (v2 holds it since the first story).
    await as('U0DANA');
    await openChannel('model-registry');
    await type('/mlops promote fraud-model 1');
    const request = message('Promote fraud-model v1');
    await request.getByRole('button', { name: 'Approve' }).waitFor();

    // Avery opens the app's Home tab: the request waits there with the channel message's buttons.
    await as('U0AVERY');
    await page.locator('#home-link').click();
    const home = page.locator('.home');
    await poll(() => home.textContent()).toContain('Waiting for your approval');
    await poll(() => home.textContent()).toMatch(/fraud-model v1 → @champion/);
    await poll(() => home.textContent()).toContain('your roles: approvers');
    await shot('8-home-approver');
    await home.getByRole('button', { name: 'Approve' }).click();
    // The answer shows at the top of the Home, and the channel message and the model follow.
    await poll(() => home.textContent()).toContain('Approved: promoting fraud-model v1');
    await poll(() => page.locator('#models [data-model="fraud-model"]').textContent()).toContain('champion: v1');
    await openChannel('model-registry');
    await request.filter({ hasText: 'Promoted' }).waitFor();

    // Dana trains through the "Train a model" shortcut's form: a bad parameter is refused next to its field.
    await as('U0DANA');
    await openChannel('ml-training');
    await page.getByRole('button', { name: 'Shortcut: Train a model' }).click();
    const form = page.locator('#modal');
    await poll(() => page.locator('#modal-title').textContent()).toBe('Train a model');
    await form.getByLabel('Target').selectOption('fraud-model');
    await form.getByLabel(/Parameters/).fill('epochs');
    await form.getByRole('button', { name: 'Train' }).click();
    await poll(() => form.locator('.field-error').textContent()).toContain('key=value');
    await shot('9-train-modal-error');
    await form.getByLabel(/Parameters/).fill('epochs=7');
    await form.getByRole('button', { name: 'Train' }).click();
    await poll(() => form.textContent()).toContain('queued training fraud-model with epochs=7');
    await shot('10-train-modal-queued');
    await form.getByRole('button', { name: 'Close' }).click();
    await message('Training job run: fraud-model-').filter({ hasText: 'epochs=7' }).waitFor();
  });

  it('explains a failed training run and a firing alarm in their threads: log tail, More, chart', async () => {
    await as('U0CASEY');
    await openChannel('ml-training');
    await page.getByRole('button', { name: 'Training failed' }).click();
    const failed = message(/Training job run: fraud-model-nightly-\d+/).filter({ hasText: 'Job run failed: exit code 137' });
    await failed.waitFor();
    const tail = failed.locator('.thread .message', { hasText: 'log lines of' });
    await tail.waitFor();
    const code = (await tail.locator('pre').textContent()) ?? '';
    expect(code.trim().split('\n')).toHaveLength(30);
    expect(code).toContain('Killed (exit code 137)');
    expect(code).not.toContain('demo-mlflow-token-Ab12');
    await tail.getByRole('button', { name: 'More' }).click();
    const older = page.locator('.ephemeral', { hasText: 'earlier log line' });
    await older.waitFor();
    expect(await older.locator('pre').textContent()).toContain('[REDACTED]');
    await poll(() => tail.scrollIntoViewIfNeeded({ timeout: 1_000 }).then(() => true, () => false)).toBe(true);
    await shot('9-oncall-log-tail');

    await openChannel('deployments');
    await page.getByRole('button', { name: 'Alarm firing' }).click();
    const alarm = message('Alarm fraud-model latency').last();
    const chart = alarm.locator('.thread figure.file img');
    await chart.waitFor();
    // The browser decoded the PNG the bot uploaded (naturalWidth is 0 for a broken image).
    await poll(() => chart.evaluate((image: { complete: boolean; naturalWidth: number }) => (image.complete ? image.naturalWidth : 0))).toBe(900);
    // The console re-renders its messages live: scroll again if the element was replaced meanwhile.
    await poll(() => chart.scrollIntoViewIfNeeded({ timeout: 1_000 }).then(() => true, () => false)).toBe(true);
    await shot('10-oncall-alarm-chart');
  });

  it('answers bad requests to the console with 400 and a reason, and keeps serving', async () => {
    const post = async (path: string, body: string) => {
      const response = await fetch(`${consoleUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: response.status, text: await response.text() };
    };
    const refused = async (path: string, body: string, reason: string) => {
      const answer = await post(path, body);
      expect(answer.status).toBe(400);
      expect(answer.text).toContain(reason);
    };
    await refused('/api/command', 'not json', 'not JSON');
    await refused('/api/command', JSON.stringify({ user: 'U0MALLORY', channel: 'C0TRAIN', text: '/mlops help' }), 'unknown user U0MALLORY');
    await refused('/api/command', JSON.stringify({ user: 'U0DANA', channel: 'C0NOWHERE', text: '/mlops help' }), 'unknown channel C0NOWHERE');
    await refused('/api/click', JSON.stringify({ user: 'U0DANA', channel: 'C0TRAIN', actionId: 'run.retry', ts: '1.000000' }), 'that message is gone');
    await refused('/api/event', JSON.stringify({ name: 'meteor-strike' }), 'Invalid option');
    expect((await post('/hooks/999999', '{}')).status).toBe(404);
    expect((await fetch(`${consoleUrl}/api/state`)).status).toBe(200);
  });
});
