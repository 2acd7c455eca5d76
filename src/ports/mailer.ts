/** One e-mail: plain text, to the configured recipients. */
export interface MailMessage {
  subject: string;
  text: string;
}

/** Why a mail was not sent: `retryable` for a 4xx answer or no answer at all, not for a 5xx refusal. */
export class MailError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'MailError';
  }
}

/** Sends warning e-mails (DESIGN.md §7: warnings by e-mail too, when `email` is configured). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}
