/**
 * NATS and JetStream errors sorted by code (and class), with the words only for errors that carry
 * neither. The errors are made the way the client library makes them: JetStream API replies become
 * JetStreamApiError (StreamNotFoundError for 10059) in parseJsResponse; -ERR lines become
 * AuthorizationError / PermissionViolationError via their parse(); a failed TLS socket's error is
 * wrapped in a ConnectionError with the Node error as its cause.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import { AuthorizationError, errors, PermissionViolationError } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import {
  isMessageGone,
  isNatsAuthError,
  isNatsTlsError,
  isStreamNameInUse,
  isStreamNotFound,
  isSubjectFull,
  jetStreamErrorCode,
} from '../../src/cluster/nats-errors.js';

const apiError = (err_code: number, code: number, description: string) =>
  err_code === 10059
    ? new jserrors.StreamNotFoundError({ err_code, code, description })
    : new JetStreamApiError({ err_code, code, description });

const streamNotFound = apiError(10059, 404, 'stream not found');
const noMessage = apiError(10037, 404, 'no message found');
const nameInUse = apiError(10058, 400, 'stream name already in use with a different configuration');
const subjectFull = apiError(10077, 503, 'maximum messages per subject exceeded');
// A code this program does not act on, whose words would match every fallback pattern.
const otherApi = apiError(10065, 400, 'subject not found; stream exists already; permission tls');

describe('JetStream API errors, by code', () => {
  it('uses the codes of the client library where it names them', () => {
    expect(jserrors.StreamNotFoundError.fromMessage('x').code).toBe(jetStreamErrorCode.streamNotFound);
    expect(noMessage.code).toBe(jetStreamErrorCode.noMessageFound);
  });

  it('stream not found: 10059 only', () => {
    expect(isStreamNotFound(streamNotFound)).toBe(true);
    expect(isStreamNotFound(noMessage)).toBe(false);
    expect(isStreamNotFound(otherApi)).toBe(false);
  });

  it('stream name in use: 10058 only', () => {
    expect(isStreamNameInUse(nameInUse)).toBe(true);
    expect(isStreamNameInUse(streamNotFound)).toBe(false);
    expect(isStreamNameInUse(otherApi)).toBe(false);
  });

  it('a message gone: 10037, or its stream gone (10059)', () => {
    expect(isMessageGone(noMessage)).toBe(true);
    expect(isMessageGone(streamNotFound)).toBe(true);
    expect(isMessageGone(nameInUse)).toBe(false);
    expect(isMessageGone(otherApi)).toBe(false);
  });

  it('a subject full (the shard lags): 10077, never by words', () => {
    expect(isSubjectFull(subjectFull)).toBe(true);
    expect(isSubjectFull(noMessage)).toBe(false);
    expect(isSubjectFull(new Error('maximum messages per subject exceeded'))).toBe(false);
  });

  it('looks through a wrapper to a JetStreamApiError cause', () => {
    expect(isStreamNotFound(new Error('wrapped', { cause: streamNotFound }))).toBe(true);
    expect(isStreamNotFound(new Error('stream was not found', { cause: nameInUse }))).toBe(false);
  });

  it('falls back to the words for an error without a code', () => {
    expect(isStreamNotFound(new Error('stream not found'))).toBe(true);
    expect(isStreamNotFound(new Error('timeout'))).toBe(false);
    expect(isStreamNameInUse(new Error('stream name already in use'))).toBe(true);
    expect(isMessageGone({ message: 'no message found' })).toBe(true);
    expect(isMessageGone(new Error('connection closed'))).toBe(false);
  });
});

describe('NATS login and TLS errors', () => {
  it('a refused login or permission, by class', () => {
    expect(isNatsAuthError(AuthorizationError.parse("'Authorization Violation'"))).toBe(true);
    expect(
      isNatsAuthError(PermissionViolationError.parse('Permissions Violation for Publish to "payments.r.shard.0"')),
    ).toBe(true);
    expect(
      isNatsAuthError(
        new errors.ConnectionError('closed', { cause: AuthorizationError.parse('authentication timeout') }),
      ),
    ).toBe(true);
  });

  it('not a login error: a lost connection, a timeout, a JetStream reply', () => {
    expect(isNatsAuthError(new errors.ConnectionError('connection refused'))).toBe(false);
    expect(isNatsAuthError(new errors.TimeoutError())).toBe(false);
    expect(isNatsAuthError(otherApi)).toBe(false);
  });

  it('falls back to the words for an error of no known class', () => {
    expect(isNatsAuthError(new Error('Authorization Violation'))).toBe(true);
  });

  it('a certificate not accepted, by the Node TLS code of the cause', () => {
    const tls = Object.assign(new Error('unable to verify'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(isNatsTlsError(new errors.ConnectionError(tls.message, { cause: tls }))).toBe(true);
    const ssl = Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    expect(isNatsTlsError(ssl)).toBe(true);
  });

  it('not a TLS error: a refused connection', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' });
    expect(isNatsTlsError(new errors.ConnectionError('connection refused', { cause: refused }))).toBe(false);
  });

  it('falls back to the words for an error without a code', () => {
    expect(isNatsTlsError(new Error('self-signed certificate'))).toBe(true);
  });
});

describe('NATS URLs shown redacted', () => {
  it('replaces the password of every server of a list, with or without a scheme', async () => {
    const { redactNatsUrl } = await import('../../src/cluster/nats.js');
    expect(redactNatsUrl('nats://a:pw1@h1:4222,c:pw2@h2,tls://u:pw3@h3')).toBe(
      'nats://a:***@h1:4222,c:***@h2,tls://u:***@h3',
    );
    expect(redactNatsUrl('nats://h1:4222,h2:4222,tls://u@h3')).toBe('nats://h1:4222,h2:4222,tls://u@h3');
  });
});
