// How phone numbers read on screen: the journal keeps E.164; people read their own country's
// numbers in its national format and others' internationally, as a desk phone shows them.
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import { api } from "./api";

/** The agent's country (the app's region): read once, then every number shown follows it. */
const home = $state({ region: "" });
api
  .appInfo()
  .then((i) => (home.region = i.region))
  .catch(() => {});

/** "(415) 555-2671" for a number of the agent's country, "+44 20 7946 0958" for another,
 *  and anything that is not a phone number (a SIP address, "anonymous") as it is. */
export function readable(value: string): string {
  const number = value.startsWith("+") ? parsePhoneNumberFromString(value) : undefined;
  if (!number?.isValid()) return value;
  return number.country && number.country === (home.region as CountryCode)
    ? number.formatNational()
    : number.formatInternational();
}
