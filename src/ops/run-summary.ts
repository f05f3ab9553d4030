/**
 * What a finished run counted: the pipeline fills it in, the report and the metrics read it. It
 * lives with them, below the pipeline, so that observability never imports the pipeline.
 */
import type { RejectionReason } from '../domain/rejection.js';

export interface RunSummary {
  inputName: string;
  inputBytes: number | undefined;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  rejectedByReason: Record<RejectionReason, number>;
  rowsByType: Record<string, number>;
  accounts: number;
  lockedAccounts: number;
  workers: number;
  eventsAppended: number;
  journalRecords: number;
  storedTxCount: number;
  journalIndexBytes: number;
  seenTxBytes: number;
  lines: LineCounts;
}

/** SPEC "Quotes that are not RFC 4180": header + blank + rows = physical − quotedLineBreaks. */
export interface LineCounts {
  physical: number;
  header: number;
  blank: number;
  rows: number;
  quotedLineBreaks: number;
}
