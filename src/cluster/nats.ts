/**
 * The NATS connection of a node or a submit: `--nats URL[,URL…]` with `nats://` or `tls://`,
 * user and password in the URL (the password better from `--nats-password-file`), or `--nats-creds
 * FILE` (a credentials file); `--nats-ca FILE` for a private CA, `--nats-cert` and `--nats-key` for a
 * server that verifies its clients' certificates (mutual TLS). The URL is printed only redacted. A refused login is exit 2 with one line.
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
  /** Client certificate and key (PEM files), for a server that verifies clients (mutual TLS). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The password of the URL's user, read from --nats-password-file (never in the URL then). */
  readonly password?: string;
  /** Connection name shown by the server's monitoring. */
  readonly name: string;
}

/** A NATS URL list with every password replaced by `***` (parts with or without a scheme). */
export function redactNatsUrl(url: string): string {
  return url
    .split(',')
    .map((part) => part.replace(/^(\s*(?:[a-z]+:\/\/)?[^/:@]*:)[^@/]*@/i, '$1***@'))
    .join(',');
}

/** Checks the settings as connecting would (one line, exit 2), before any work. */
export function checkNatsSettings(settings: NatsSettings): void {
  natsOptions(settings);
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
  if (settings.password !== undefined) {
    if (user === undefined)
      throw usageError('--nats-password-file: the URL names no user (nats://user@host:4222)', { usageHint: true });
    if (pass !== '')
      throw usageError('--nats-password-file: the URL holds a password too; give it in one place', { usageHint: true });
    pass = settings.password;
  }
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
  if (tls || settings.caFile !== undefined || settings.certFile !== undefined) {
    options.tls = {
      ...(settings.caFile === undefined ? {} : { caFile: settings.caFile }),
      ...(settings.certFile === undefined ? {} : { certFile: settings.certFile, keyFile: settings.keyFile }),
    };
  }
  return options;
}

export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  const shown = redactNatsUrl(settings.url);
  const options = natsOptions(settings); // its usage errors are the user's, not a failed connection
  try {
    return await connect(options);
  } catch (error) {
    const said = describeError(error);
    if (isNatsAuthError(error))
      throw usageError(
        `nats ${shown}: the server refused the login (${said}); check the user and password or --nats-creds`,
      );
    if (isNatsTlsError(error))
      throw usageError(
        `nats ${shown}: TLS failed (${said}); check tls://, --nats-ca and, if the server verifies clients, --nats-cert and --nats-key`,
      );
    // A server that verifies clients drops one without a certificate during the handshake, which
    // the client sees only as a timeout: say so when no certificate was given.
    const hint =
      options.tls === undefined
        ? ''
        : settings.certFile === undefined
          ? ' (or does it verify clients? --nats-cert, --nats-key)'
          : ' (or does it refuse the client certificate --nats-cert?)';
    throw runFailure(`nats ${shown}: cannot connect (${said}); is the server running?${hint}`);
  }
}
