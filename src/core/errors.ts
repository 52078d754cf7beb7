// The base of the core's errors: a stable machine-readable code (kebab-case)
// beside a message for people. Each module's error is a subclass, so callers
// can tell them apart with instanceof; `name` is the subclass's name.

export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}
