import { LogLevel, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from '../../log.js';

const toText = (parts: unknown[]): string => parts.map((part) => (typeof part === 'string' ? part : part instanceof Error ? part.message : JSON.stringify(part))).join(' ');

/** Lets the Slack SDKs (Bolt, WebClient, Socket Mode) write through our pino logger, redaction included. */
export function slackLogger(logger: Logger): SlackLogger {
  let level: LogLevel = LogLevel.INFO;
  return {
    debug: (...parts: unknown[]) => logger.debug({ sdk: 'slack' }, toText(parts)),
    info: (...parts: unknown[]) => logger.info({ sdk: 'slack' }, toText(parts)),
    warn: (...parts: unknown[]) => logger.warn({ sdk: 'slack' }, toText(parts)),
    error: (...parts: unknown[]) => logger.error({ sdk: 'slack' }, toText(parts)),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
