# jsruntime_call_on_stack(stack_top, callback, arg): runs callback(arg) with the
# shadow stack pointer moved to stack_top, and puts it back afterwards. See
# src/stack.rs for why scripts run on a stack of their own.
	.text
	.globaltype	__stack_pointer, i32
	.tabletype	__indirect_function_table, funcref
	.functype	jsruntime_call_on_stack (i32, i32, i32) -> ()
	.section	.text.jsruntime_call_on_stack,"",@
	.hidden	jsruntime_call_on_stack
	.globl	jsruntime_call_on_stack
	.type	jsruntime_call_on_stack,@function
jsruntime_call_on_stack:
	.functype	jsruntime_call_on_stack (i32, i32, i32) -> ()
	.local	i32
	global.get	__stack_pointer
	local.set	3
	local.get	0
	global.set	__stack_pointer
	local.get	2
	local.get	1
	call_indirect	__indirect_function_table, (i32) -> ()
	local.get	3
	global.set	__stack_pointer
	end_function
