/**
 * The NATS connection of a node or a submit: `--nats URL[,URL…]` with `nats://` or `tls://`,
 * user and password in the URL (or `--nats-creds FILE`, a credentials file), `--nats-ca FILE` for a
 * private CA. The URL is printed only redacted. A refused login is exit 2 with one line.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { natsReconnectWaitMs } from '../constants.js';
import { describeError, runFailure, usageError } from '../errors.js';
import { isNatsAuthError, isNatsTlsError } from './nats-errors.js';

export interface NatsSettings {
  readonly url: string;
  readonly credsFile?: string;
  readonly caFile?: string;
  /** Connection name shown by the server's monitoring. */
  readonly name: string;
}

function redactNatsUrl(url: string): string {
  return url
    .split(',')
    .map((part) => part.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@'))
    .join(',');
}

function natsOptions(settings: NatsSettings): NodeConnectionOptions {
  const servers: string[] = [];
  let user: string | undefined;
  let pass: string | undefined;
  let tls = false;
  for (const raw of settings.url.split(',').map((s) => s.trim())) {
    let url: URL;
    try {
      url = new URL(raw.includes('://') ? raw : `nats://${raw}`);
    } catch {
      throw usageError(`--nats ${redactNatsUrl(raw)}: not a NATS URL (nats://host:4222 or tls://host:4222)`, {
        usageHint: true,
      });
    }
    if (!['nats:', 'tls:'].includes(url.protocol))
      throw usageError(`--nats ${redactNatsUrl(raw)}: the scheme must be nats:// or tls://`, { usageHint: true });
    if (url.protocol === 'tls:') tls = true;
    if (url.username !== '') {
      user = decodeURIComponent(url.username);
      pass = decodeURIComponent(url.password);
    }
    servers.push(`${url.hostname}:${url.port || '4222'}`);
  }
  const options: NodeConnectionOptions = {
    servers,
    name: settings.name,
    maxReconnectAttempts: -1, // a restarted server is waited for; JetStream keeps what it stored
    reconnectTimeWait: natsReconnectWaitMs,
    waitOnFirstConnect: false,
  };
  if (user !== undefined) Object.assign(options, { user, pass });
  if (settings.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(settings.credsFile);
    } catch (error) {
      throw usageError(`--nats-creds ${settings.credsFile}: ${describeError(error)}`);
    }
    options.authenticator = credsAuthenticator(creds);
  }
  if (tls || settings.caFile !== undefined) {
    options.tls = settings.caFile === undefined ? {} : { caFile: settings.caFile };
  }
  return options;
}

export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  const shown = redactNatsUrl(settings.url);
  try {
    return await connect(natsOptions(settings));
  } catch (error) {
    const said = describeError(error);
    if (isNatsAuthError(error))
      throw usageError(
        `nats ${shown}: the server refused the login (${said}); check the user and password or --nats-creds`,
      );
    if (isNatsTlsError(error)) throw usageError(`nats ${shown}: TLS failed (${said}); check tls:// and --nats-ca`);
    throw runFailure(`nats ${shown}: cannot connect (${said}); is the server running?`);
  }
}
