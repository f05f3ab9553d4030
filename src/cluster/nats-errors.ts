/**
 * What a NATS or JetStream error means, decided in this one place: by the JetStream API error code
 * (JetStreamApiError.code, the server's err_code) or the client library's error class, and by the
 * error's words only for an error that carries neither (a wrapped or foreign one).
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { AuthorizationError, PermissionViolationError, UserAuthenticationExpiredError } from '@nats-io/transport-node';
import { describeError, errorCode } from '../errors.js';

/** The server's JetStream API error codes this program acts on (nats-server's errors.json). */
export const jetStreamErrorCode = {
  /** JSNoMessageFoundErr: "no message found". */
  noMessageFound: 10037,
  /** JSStreamNameExistErr: "stream name already in use with a different configuration". */
  streamNameInUse: 10058,
  /** JSSequenceNotFoundErrF: "sequence N not found" (a delete of a message deleted already, in a live block). */
  sequenceNotFound: 10043,
  /** JSStreamMsgDeleteFailedF: a delete that failed; "no message found" when its block is gone too. */
  msgDeleteFailed: 10057,
  /** JSStreamNotFoundErr: "stream not found". */
  streamNotFound: 10059,
  /**
   * JSStreamStoreFailedF: the stream refused to store a message; on a stream with
   * max_msgs_per_subject and discard-new per subject, "maximum messages per subject exceeded".
   */
  storeFailed: 10077,
} as const;

/** The JetStream API error code of an error, if it is a JetStreamApiError (or wraps one as its cause). */
function apiCode(error: unknown): number | undefined {
  if (error instanceof JetStreamApiError) return error.code;
  if (error instanceof Error && error.cause instanceof JetStreamApiError) return error.cause.code;
  return undefined;
}

/** Classified by code when there is one, by the words (the fallback) only when there is none. */
function byCode(error: unknown, codes: readonly number[], words: RegExp): boolean {
  const code = apiCode(error);
  return code !== undefined ? codes.includes(code) : words.test(describeError(error));
}

/** The stream does not exist (deleting it, or reading its info). */
export const isStreamNotFound = (error: unknown): boolean =>
  byCode(error, [jetStreamErrorCode.streamNotFound], /not found/i);

/** Creating a stream that exists already (another submit of the same run created it first). */
export const isStreamNameInUse = (error: unknown): boolean =>
  byCode(error, [jetStreamErrorCode.streamNameInUse], /already in use|exists/i);

/** Deleting a message that is not there any more (deleted already, or its stream is gone). */
export const isMessageGone = (error: unknown): boolean =>
  byCode(
    error,
    [jetStreamErrorCode.noMessageFound, jetStreamErrorCode.streamNotFound],
    /no message found|not found/i,
  ) ||
  apiCode(error) === jetStreamErrorCode.sequenceNotFound ||
  (apiCode(error) === jetStreamErrorCode.msgDeleteFailed && /no message found/i.test(describeError(error)));

/** A publish the stream refused because the subject holds its limit (the shard lags): by code only. */
export const isSubjectFull = (error: unknown): boolean => apiCode(error) === jetStreamErrorCode.storeFailed;

/** The server refused the login or the permission (retrying cannot help: exit 2). */
export function isNatsAuthError(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  for (const e of [error, cause])
    if (
      e instanceof AuthorizationError ||
      e instanceof UserAuthenticationExpiredError ||
      e instanceof PermissionViolationError
    )
      return true;
  if (apiCode(error) !== undefined) return false;
  return /authori[sz]ation|authentication|permission/i.test(describeError(error));
}

/** Node's TLS error codes for a certificate not accepted (or a handshake that could not be made). */
const tlsCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/** TLS failed: a certificate not accepted, or a server that speaks no TLS (or only TLS). */
export function isNatsTlsError(error: unknown): boolean {
  const code = errorCode(error) ?? (error instanceof Error ? errorCode(error.cause) : undefined);
  if (code !== undefined && (tlsCodes.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')))
    return true;
  return /certificate|self[- ]signed|tls|ssl/i.test(describeError(error));
}
