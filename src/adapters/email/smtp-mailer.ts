import nodemailer, { type Transporter } from 'nodemailer';
import { MailError, type MailMessage, type Mailer } from '../../ports/mailer.ts';

/** Mail through the SMTP server of `email.smtp_url` (nodemailer), from `email.from` to `email.to`. */
export class SmtpMailer implements Mailer {
  readonly #transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly to: readonly string[],
    timeoutMs = 10_000,
  ) {
    // One connection per mail: the outbox sends few, and a pooled connection would outlive an SMTP restart.
    const url = new URL(smtpUrl);
    this.#transport = nodemailer.createTransport({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)),
      secure: url.protocol === 'smtps:',
      ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  async send(message: MailMessage): Promise<void> {
    try {
      await this.#transport.sendMail({ from: this.from, to: [...this.to], subject: message.subject, text: message.text });
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      // 5xx: the server refused this mail for good; 4xx and no answer at all: try again later.
      throw new MailError(`SMTP: ${(error as Error).message}`, code === undefined || code < 500);
    }
  }
}
