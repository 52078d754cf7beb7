// Errors the log layer reports to its callers, each with a stable code and
// the HTTP status the server answers with.

export class LedgerError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryAfter?: number;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.name = 'LedgerError';
    this.status = status;
    this.code = code;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

export const badRequest = (code: string, message: string) => new LedgerError(400, code, message);
export const notFound = (code: string, message: string) => new LedgerError(404, code, message);
