/* The .egm model, embedded as is: 16-byte aligned, as the runtime reads it in place. */
    .section .rodata.egm_model, "a"
    .balign 16
    .global egm_model_bytes
egm_model_bytes:
    .incbin MODEL_PATH
    .global egm_model_end
egm_model_end:
