// What each provider asks for in the settings form.
import type { CredentialField, ProviderKind } from "./types";

export interface FieldSpec {
  field: CredentialField;
  label: string;
  hint?: string;
  multiline?: boolean;
  optional?: boolean;
  /** Not secret by nature (an id): shown as text while typed, still stored in the keyring. */
  plain?: boolean;
}

export const providerLabels: Record<ProviderKind, string> = {
  telnyx: "Telnyx",
  twilio: "Twilio",
  vonage: "Vonage",
  sip: "SIP account",
};

export const providerBlurbs: Record<ProviderKind, string> = {
  telnyx: "API key from Mission Control → Keys & Credentials.",
  twilio: "Account SID with its Auth Token, or an API key (SID + secret), from the Twilio Console.",
  vonage: "API key and secret from the Vonage dashboard; a voice application's id and private key for calls.",
  sip: "Any SIP registrar or PBX: the softphone registers with it while this provider is active.",
};

export type TwilioAuthMethod = "authToken" | "apiKey";

export function fieldsFor(kind: ProviderKind, twilioAuth: TwilioAuthMethod = "authToken"): FieldSpec[] {
  switch (kind) {
    case "telnyx":
      return [
        { field: "apiKey", label: "API key", hint: "Starts with KEY…" },
        { field: "webhookSecret", label: "Webhook public key", optional: true, plain: true, hint: "Mission Control → Keys & Credentials → Public key; verifies Telnyx webhooks" },
      ];
    case "twilio":
      return [
        { field: "accountSid", label: "Account SID", plain: true, hint: "AC followed by 32 characters" },
        ...(twilioAuth === "authToken"
          ? [{ field: "authToken", label: "Auth Token" } as FieldSpec]
          : [
              { field: "apiKey", label: "API key SID", plain: true, hint: "SK followed by 32 characters" } as FieldSpec,
              { field: "apiSecret", label: "API key secret" } as FieldSpec,
            ]),
      ];
    case "vonage":
      return [
        { field: "apiKey", label: "API key", plain: true },
        { field: "apiSecret", label: "API secret" },
        { field: "applicationId", label: "Application ID", optional: true, plain: true, hint: "Needed for voice calls" },
        { field: "privateKey", label: "Private key", optional: true, multiline: true, hint: "Paste the application's private.key file" },
        { field: "webhookSecret", label: "Signature secret", optional: true, hint: "Dashboard → Settings; verifies Vonage's signed webhooks" },
      ];
    case "sip":
      return [{ field: "sipPassword", label: "SIP password" }];
  }
}

export const statusLabels = {
  active: "Active",
  configured: "Configured",
  not_configured: "Not configured",
} as const;
