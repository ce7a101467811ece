import { startBot } from './app.js';
import { loadConfig } from './config/load-config.js';
import { isMlopsError } from './errors.js';
import { createLogger } from './log.js';
import { lazyOciGateway } from './adapters/oci/lazy-oci-gateway.js';

/** Pods get 30 s by default between SIGTERM and SIGKILL; shutdown must finish well inside it. */
const SHUTDOWN_TIMEOUT_MS = 25_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    process.stderr.write(`${isMlopsError(error) ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.env.LOG_LEVEL });
  const oci = lazyOciGateway(config.env, logger.child({ component: 'oci' }));
  const bot = await startBot({ config, logger, oci });

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    bot.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
}

void main();
