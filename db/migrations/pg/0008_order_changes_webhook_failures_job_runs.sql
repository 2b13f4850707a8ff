CREATE TABLE "job_runs" (
	"name" text PRIMARY KEY NOT NULL,
	"finished_at" bigint NOT NULL,
	"ok" boolean NOT NULL,
	"report" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "order_changes" (
	"id" serial PRIMARY KEY NOT NULL,
	"checkout_session_id" text NOT NULL,
	"at" bigint NOT NULL,
	"event_id" text,
	"source" text NOT NULL,
	"before" text NOT NULL,
	"after" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_failures" (
	"event_id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"error" text NOT NULL,
	"count" integer NOT NULL,
	"first_at" bigint NOT NULL,
	"last_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "order_changes" ADD CONSTRAINT "order_changes_checkout_session_id_checkout_sessions_id_fk" FOREIGN KEY ("checkout_session_id") REFERENCES "public"."checkout_sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "order_changes_checkout_idx" ON "order_changes" USING btree ("checkout_session_id","at");--> statement-breakpoint
CREATE INDEX "webhook_failures_last_idx" ON "webhook_failures" USING btree ("last_at");