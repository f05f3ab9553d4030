// The transport carries the engine's batches; their layout is declared in src/layout.ts.
export * from '../engine/batch.js';
