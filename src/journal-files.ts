/**
 * The names that mark a journal directory, at the bottom layer: the journal writes them, and the
 * output rule (io/journal-places.ts) recognises a journal by them to keep every output out of one.
 */
export const manifestFileName = 'manifest.json';
/** Held exclusively by the run writing the journal (see journal/lock.ts). */
export const lockFileName = 'lock.sqlite';
/** The `format` field of every journal manifest. */
export const manifestFormat = 'payments-journal';
