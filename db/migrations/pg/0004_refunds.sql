CREATE TABLE "refunds" (
	"id" text PRIMARY KEY NOT NULL,
	"checkout_session_id" text NOT NULL,
	"charge_id" text,
	"payment_intent_id" text,
	"amount" integer NOT NULL,
	"status" text NOT NULL,
	"created" bigint NOT NULL,
	"event_at" bigint NOT NULL,
	"updated_at" bigint DEFAULT (floor(extract(epoch from clock_timestamp()) * 1000))::bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "amount_refund_pending" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "charge_amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "stripe_events" ADD COLUMN "link_id" text;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_checkout_session_id_checkout_sessions_id_fk" FOREIGN KEY ("checkout_session_id") REFERENCES "public"."checkout_sessions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "refunds_checkout_idx" ON "refunds" USING btree ("checkout_session_id");--> statement-breakpoint
CREATE INDEX "refunds_status_idx" ON "refunds" USING btree ("status");--> statement-breakpoint
CREATE INDEX "stripe_events_link_idx" ON "stripe_events" USING btree ("link_id");--> statement-breakpoint
-- Rows from before: the charge total they hold is the one a charge event reported.
UPDATE checkout_sessions SET charge_amount_refunded = amount_refunded;
