"""The texts every center starts with; admins edit them in the admin."""

# Lead-facing texts name the sender and the next step, never the person's health,
# treatment or the kind of program (42 CFR Part 2: a phone screen is not private).
DEFAULT_TEMPLATES = {
    "web_auto_reply": (
        "Hi {first_name}, this is {counselor_name} with {brand}. Thanks for reaching "
        "out. I'll call you shortly; you can also reply here or call {help_phone}."
    ),
    "missed_call": (
        "Hi {first_name}, sorry we missed your call. This is {counselor_name} with "
        "{brand}. I'll try you again soon, or call us back at {help_phone}."
    ),
    "callback_reminder": (
        "Hi {first_name}, {counselor_name} from {brand} here. I'll call you at the "
        "time we planned. Reply here if another time works better."
    ),
    "opt_out_confirmation": (
        "You're unsubscribed from {brand} texts. No more messages will be sent. "
        "Reply START to resume."
    ),
    "opt_in_confirmation": (
        "You're resubscribed to {brand} texts. Msg & data rates may apply. "
        "Reply STOP to opt out, HELP for help."
    ),
    "help": (
        "{brand}: for help call {help_phone}. Msg & data rates may apply. "
        "Reply STOP to opt out."
    ),
    "first_message_footer": (
        "{brand}. Msg & data rates may apply. Reply STOP to opt out, HELP for help."
    ),
    "alert_lead_assigned": (
        "New lead assigned to you: {first_name} (#{lead_id}). {lead_url}"
    ),
    "alert_lead_replied": "{first_name} (#{lead_id}) texted back. {lead_url}",
    "alert_callback_due": "Call-back due now: {first_name} (#{lead_id}). {lead_url}",
    "cadence_no_answer": (
        "Hi {first_name}, this is {counselor_name} with {brand}. I tried to call you "
        "just now. Reply with a good time to talk, or call us at {help_phone}."
    ),
    "alert_lead_waiting": (
        "Lead #{lead_id} ({first_name}) is waiting in the queue: no counselor is "
        "available. {lead_url}"
    ),
    "alert_repeat_inquiry": "{first_name} (#{lead_id}) reached out again. {lead_url}",
    "alert_missed_call": (
        "Missed call from {first_name} (#{lead_id}): call back now. {lead_url}"
    ),
    "alert_voicemail": "New voicemail from {first_name} (#{lead_id}). {lead_url}",
    "alert_sla_breach": (
        "Lead #{lead_id} ({first_name}) is waiting past its SLA. {lead_url}"
    ),
}
