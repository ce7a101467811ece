import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { code, escapeMrkdwn, link, mention, plain, slackDate } from '../../src/slack/mrkdwn.js';
import { anyText } from '../helpers/arbitraries.js';

const WJ = '\u2060';

describe('escapeMrkdwn', () => {
  it('escapes Slack’s control characters so mentions and links stay literal', () => {
    expect(escapeMrkdwn('<!channel>')).toBe('&lt;!channel&gt;');
    expect(escapeMrkdwn('<@U123>')).toBe('&lt;@U123&gt;');
    expect(escapeMrkdwn('<!subteam^S0SRE>')).toBe('&lt;!subteam^S0SRE&gt;');
    expect(escapeMrkdwn('<https://evil.example|click>')).toBe('&lt;https://evil.example|click&gt;');
  });

  it('escapes & first, so existing entities are shown as typed', () => {
    expect(escapeMrkdwn('R&D')).toBe('R&amp;D');
    expect(escapeMrkdwn('&lt;!channel&gt;')).toBe('&amp;lt;!channel&amp;gt;');
  });

  it('breaks @channel, @here and @everyone with a word joiner, in any case', () => {
    expect(escapeMrkdwn('ping @here and @Channel, @everyone')).toBe(`ping @${WJ}here and @${WJ}Channel, @${WJ}everyone`);
    expect(escapeMrkdwn('@heretic and user@example.com')).toBe('@heretic and user@example.com');
  });

  it('leaves ordinary text alone', () => {
    expect(escapeMrkdwn('fraud-model v12: *bold* _it_ 100%')).toBe('fraud-model v12: *bold* _it_ 100%');
  });

  it('never leaves a < or > in its output', () => {
    fc.assert(
      fc.property(anyText(100), (text) => !/[<>]/.test(escapeMrkdwn(text))),
      { numRuns: 200 },
    );
  });
});

describe('link', () => {
  it('renders an https link with an escaped label', () => {
    expect(link('https://cloud.oracle.com/data-science/job-runs/ocid1.x?region=us-ashburn-1', 'Open <b> & go')).toBe(
      '<https://cloud.oracle.com/data-science/job-runs/ocid1.x?region=us-ashburn-1|Open &lt;b&gt; &amp; go>',
    );
  });

  it('keeps a | in the label from ending it', () => {
    expect(link('https://example.com', 'a|b')).toBe('<https://example.com|a¦b>');
  });

  it.each([
    'http://example.com',
    'javascript:alert(1)',
    'https://evil.example|click',
    'https://evil.example>x',
    'https://evil.example/ <!channel>',
    'ftp://example.com',
    '',
    undefined,
  ])('refuses the URL %j and shows only the label', (url) => {
    expect(link(url, '<!channel> label')).toBe('&lt;!channel&gt; label');
  });
});

describe('mention', () => {
  it('mentions users and user groups by ID', () => {
    expect(mention('U0LEAD1')).toBe('<@U0LEAD1>');
    expect(mention('W0ENTERPRISE')).toBe('<@W0ENTERPRISE>');
    expect(mention('S0ONCALL')).toBe('<!subteam^S0ONCALL>');
  });

  it.each([undefined, '', 'alice', '@alice', 'u0lead1', 'C0CHANNEL', '<!channel>', 'U0X> <!channel', 'S0X|y'])('renders %j as nothing', (principal) => {
    expect(mention(principal)).toBe('');
  });
});

describe('code, plain and slackDate', () => {
  it('keeps inline code from being broken out of', () => {
    expect(code('a`b <!here>')).toBe("`a'b &lt;!here&gt;`");
  });

  it('truncates plain text to the limit with an ellipsis', () => {
    expect(plain('x'.repeat(200), 150)).toHaveLength(150);
    expect(plain('x'.repeat(200), 150).endsWith('…')).toBe(true);
    expect(plain('short', 150)).toBe('short');
    expect(plain('x'.repeat(150), 150)).toBe('x'.repeat(150));
  });

  it('renders a Slack date token with the ISO time as fallback', () => {
    expect(slackDate('2025-03-04T09:00:00.500Z')).toBe('<!date^1741078800^{date_short_pretty} {time_secs}|2025-03-04T09:00:00.000Z>');
  });

  it('shows an unparseable time escaped, not as a token', () => {
    expect(slackDate('<!channel>')).toBe('&lt;!channel&gt;');
  });
});
