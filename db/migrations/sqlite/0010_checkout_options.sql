ALTER TABLE `checkout_sessions` ADD `amount_subtotal` integer;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `amount_discount` integer;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `amount_tax` integer;--> statement-breakpoint
ALTER TABLE `checkout_sessions` ADD `amount_shipping` integer;--> statement-breakpoint
ALTER TABLE `products` ADD `shippable` integer DEFAULT false NOT NULL;