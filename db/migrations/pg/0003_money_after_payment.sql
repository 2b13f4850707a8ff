ALTER TABLE "checkout_sessions" ADD COLUMN "stripe_charge_id" text;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "dispute_status" text;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "invoice_status" text;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "invoice_event_at" bigint;