// Structured logging into the host's log, tagged with the component and the call.
import { log } from 'weft:runtime/log@0.2.0';

export const trace = (message) => log('trace', String(message));
export const debug = (message) => log('debug', String(message));
export const info = (message) => log('info', String(message));
export const warn = (message) => log('warn', String(message));
export const error = (message) => log('error', String(message));
