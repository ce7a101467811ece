import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Paths that may carry secrets anywhere in a log record; pino replaces them with "[redacted]". */
const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'signingSecret',
  '*.signingSecret',
  'botToken',
  '*.botToken',
  'appToken',
  '*.appToken',
  'confirmationUrl',
  '*.confirmationUrl',
  'unsubscribeUrl',
  '*.unsubscribeUrl',
  'response_url',
  '*.response_url',
];

export interface LoggerOptions {
  level: string;
  /** Where records go; tests pass a stream to inspect them. Defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'mlops-chatops' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? process.stdout,
  );
}
