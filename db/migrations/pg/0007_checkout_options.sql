ALTER TABLE "checkout_sessions" ADD COLUMN "amount_subtotal" integer;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "amount_discount" integer;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "amount_tax" integer;--> statement-breakpoint
ALTER TABLE "checkout_sessions" ADD COLUMN "amount_shipping" integer;--> statement-breakpoint
ALTER TABLE "products" ADD COLUMN "shippable" boolean DEFAULT false NOT NULL;