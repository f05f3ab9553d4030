/** Where the CLI writes: injectable, so tests can call `run(argv, io)` in-process. */
export interface CliIo {
  stdout(text: string): Promise<void>;
  stderr(text: string): void;
  readonly stderrIsTty: boolean;
}

export const processIo: CliIo = {
  stdout: (text) =>
    new Promise((resolve, reject) => {
      process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
    }),
  stderr: (text) => {
    process.stderr.write(text);
  },
  get stderrIsTty() {
    return process.stderr.isTTY === true;
  },
};

/** yargs reads a lone `-` as an empty flag; run() swaps it for this token before parsing. */
export const stdinArg = '\u0000stdin';
