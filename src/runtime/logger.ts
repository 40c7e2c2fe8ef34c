import { pino, type Logger } from 'pino';
import type { Config } from '../config/index.ts';

/** Structured JSON logs on stdout (stderr for the CLI, whose stdout is for results). */
export function createLogger(config: Pick<Config, 'logLevel'>, destination: 1 | 2 = 1): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ dest: destination, sync: false }));
}
